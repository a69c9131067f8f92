# Channels: where a subscription starts.
#   without an id: only what is published after it connected;
#   MxhrChannelReplay 3: the last 3 kept first;
#   Last-Event-ID header or ?last_event_id=: everything kept after it,
#   then live, also after a disconnect with messages published meanwhile;
#   an id no longer kept (evicted by MxhrChannelHistory 3, expired by
#   MxhrChannelHistoryTime 1s, garbage, unknown): "Mxhr-History: lost"
#   and the oldest kept first.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time sleep);
use MxhrTest qw(server_port);
use MxhrChannel;

plan tests => 61;

my $port = server_port();
my $base = uniq_name('res');

sub publish {
    my ($pub, $body) = @_;
    my $r = ch_request($port, 'POST', $pub, body => $body, type => 'text/plain');
    die "publish to $pub: $r->{status}\n" unless $r->{status} =~ /^20[12]$/;
    return $r->{json}{id};
}

sub bodies { join ',', map { $_->{body} } $_[0]->messages }

# Five messages kept, nobody listening.
my $ch = "$base-a";
my $pub = "/ch/pub?id=$ch";
my @id = (undef, map { publish($pub, "m$_") } 1 .. 5);
ok ids_increasing(@id[1 .. 5]), 'five ids, increasing';

# Without an id: only new messages.
my $s = ch_subscribe($port, "/ch/sub?id=$ch");
ok wait_subscribers($port, $pub, 1), 'subscribed without an id';
ok !defined $s->header('mxhr-history'), 'no Mxhr-History header';
$id[6] = publish($pub, 'm6');
ok $s->wait_messages(1, 3), 'a message published after connecting arrives';
$s->pump(0.5);
is bodies($s), 'm6', 'and only it: nothing kept from before';

# MxhrChannelReplay 3: the last three, then live.
my $rp = ch_subscribe($port, "/ch/sub-replay?id=$ch");
ok $rp->wait_messages(3, 3), 'MxhrChannelReplay 3: three at once';
ok wait_subscribers($port, $pub, 2), 'the replaying subscriber is counted';
$id[7] = publish($pub, 'm7');
ok $rp->wait_messages(4, 3), 'then the live one';
is bodies($rp), 'm4,m5,m6,m7', 'the last 3 kept, then the new one';
is_deeply [ map { $_->{id} } $rp->messages ], [ @id[4 .. 7] ], 'with their ids';
is_deeply [ map { $_->{seq} } $rp->parts ], [ 1 .. scalar(my @all = $rp->parts) ],
          'Mxhr-Seq counts the parts';
$rp->close;
# With an id, a replay location resumes instead.
$rp = ch_subscribe($port, "/ch/sub-replay?id=$ch", headers => { 'Last-Event-ID' => $id[1] });
ok $rp->wait_messages(6, 3), 'an id on a replay location: everything after it';
is bodies($rp), 'm2,m3,m4,m5,m6,m7', 'm2..m7, not the last 3';
$rp->close;

# Last-Event-ID header: everything after it, then live.
my $h = ch_subscribe($port, "/ch/sub?id=$ch", headers => { 'Last-Event-ID' => $id[2] });
is $h->status, 200, 'Last-Event-ID: 200';
ok !defined $h->header('mxhr-history'), 'a kept id: no Mxhr-History';
ok $h->wait_messages(5, 3), 'the kept messages after it at once';
is bodies($h), 'm3,m4,m5,m6,m7', 'm3..m7';
my $q = ch_subscribe($port, "/ch/sub?id=$ch&last_event_id=$id[2]");
ok $q->wait_messages(5, 3), '?last_event_id= too';
is bodies($q), 'm3,m4,m5,m6,m7', 'm3..m7';
ok !defined $q->header('mxhr-history'), 'no Mxhr-History';
my $latest = ch_subscribe($port, "/ch/sub?id=$ch", headers => { 'Last-Event-ID' => $id[7] });
ok wait_subscribers($port, $pub, 4), 'resuming from the newest id: subscribed';
$id[8] = publish($pub, 'm8');
my @want = ([$h, 6], [$q, 6], [$latest, 1], [$s, 3]);
ch_pump_all([$h, $q, $latest, $s], 3,
            sub { !grep { $_->[0]->messages < $_->[1] } @want });
is bodies($h), 'm3,m4,m5,m6,m7,m8', 'Last-Event-ID: then the live one';
is bodies($q), 'm3,m4,m5,m6,m7,m8', '?last_event_id=: then the live one';
is bodies($latest), 'm8', 'from the newest id: nothing old, then the live one';
is bodies($s), 'm6,m7,m8', 'the first subscriber: the live ones';
ok ids_increasing(map { $_->{id} } $h->messages), 'ids increase, none twice';
$q->close;
$latest->close;

# A disconnect: messages published meanwhile are not missed.
my $last = ($s->messages)[-1]{id};
$s->close;
$h->close;
$id[9] = publish($pub, 'm9');
$id[10] = publish($pub, 'm10');
$s = ch_subscribe($port, "/ch/sub?id=$ch", headers => { 'Last-Event-ID' => $last });
ok $s->wait_messages(2, 3), 'reconnected with the last id it had';
ok wait_subscribers($port, $pub, 1), 'and subscribed';
$id[11] = publish($pub, 'm11');
ok $s->wait_messages(3, 3), 'then live';
is bodies($s), 'm9,m10,m11', 'what was published while away, then the new one';
ok !defined $s->header('mxhr-history'), 'nothing lost';
$s->close;
$s = ch_subscribe($port, "/ch/sub?id=$ch&last_event_id=$id[10]");
ok $s->wait_messages(1, 3), 'reconnected by ?last_event_id=';
$s->pump(0.3);
is bodies($s), 'm11', 'exactly what came after';
$s->close;

# Garbage, unknown, from another store: lost; the oldest kept first.
for my $bad (['garbage', 'not-an-id'], ['unknown (future seq)', do {
                 my ($st) = parse_id($id[11]); "$st-999999999999" }],
             ['another store', do { my (undef, $seq) = parse_id($id[3]); "1-$seq" }]) {
    my ($what, $val) = @$bad;
    my $g = ch_subscribe($port, "/ch/sub?id=$ch", headers => { 'Last-Event-ID' => $val });
    is $g->status, 200, "$what id: 200";
    is $g->header('mxhr-history'), 'lost', "$what id: Mxhr-History: lost";
    ok $g->wait_messages(11, 3), "$what id: every kept message";
    is +($g->messages)[0]{body}, 'm1', "$what id: starting at the oldest kept (m1)";
    $g->close;
}
my $g = ch_subscribe($port, "/ch/sub?id=$ch&last_event_id=garbage%20id");
is $g->header('mxhr-history'), 'lost', '?last_event_id=garbage: lost too';
$g->close;

# Evicted: MxhrChannelHistory 3 keeps m4..m6 of six.
$ch = "$base-evict";
$pub = "/ch/pub3?id=$ch";
my @e = (undef, map { publish($pub, "e$_") } 1 .. 6);
my $r = ch_request($port, 'GET', $pub);
is $r->{json} && $r->{json}{messages}, 3, 'MxhrChannelHistory 3: three kept';
$s = ch_subscribe($port, "/ch/sub?id=$ch", headers => { 'Last-Event-ID' => $e[1] });
is $s->header('mxhr-history'), 'lost', 'an evicted id: Mxhr-History: lost';
ok $s->wait_messages(3, 3), 'the kept ones';
$s->pump(0.3);
is bodies($s), 'e4,e5,e6', 'starting at the oldest kept (e4)';
$s->close;
$s = ch_subscribe($port, "/ch/sub?id=$ch", headers => { 'Last-Event-ID' => $e[4] });
ok !defined $s->header('mxhr-history'), 'the oldest kept id: nothing lost';
ok $s->wait_messages(2, 3), 'the two after it';
is bodies($s), 'e5,e6', 'e5, e6';
$s->close;
# A second later too (the store may keep a burst for a second).
sleep 1.2;
$r = ch_request($port, 'GET', $pub);
is $r->{json} && $r->{json}{messages}, 3, 'MxhrChannelHistory 3: three kept a second later';
$s = ch_subscribe($port, "/ch/sub?id=$ch", headers => { 'Last-Event-ID' => $e[2] });
is $s->header('mxhr-history'), 'lost', 'an evicted id a second later: Mxhr-History: lost';
ok $s->wait_messages(3, 3), 'the kept ones';
$s->pump(0.3);
is bodies($s), 'e4,e5,e6', 'starting at the oldest kept (e4)';
$s->close;

# Expired: MxhrChannelHistoryTime 1s.
$ch = "$base-expire";
$pub = "/ch/pub-1s?id=$ch";
my @x = (undef, publish($pub, 'x1'), publish($pub, 'x2'));
sleep 1.6;
$x[3] = publish($pub, 'x3');
$r = ch_request($port, 'GET', $pub);
is $r->{json} && $r->{json}{messages}, 1, 'MxhrChannelHistoryTime 1s: after 1.6 s one is kept';
$s = ch_subscribe($port, "/ch/sub?id=$ch", headers => { 'Last-Event-ID' => $x[1] });
is $s->header('mxhr-history'), 'lost', 'an expired id: Mxhr-History: lost';
ok $s->wait_messages(1, 3), 'the kept one';
$s->pump(0.3);
is bodies($s), 'x3', 'only x3';
$s->close;
