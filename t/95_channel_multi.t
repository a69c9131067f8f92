# Channels: one subscription to several (MxhrChannel "mc-alpha , mc-beta",
# and ?id=x,y): every channel's messages in id order, Mxhr-Channel
# naming each one's channel, and any part's Mxhr-Id resumes all of them.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use MxhrTest qw(server_port);
use MxhrChannel;

plan tests => 29;

my $port = server_port();
my %pub = map { $_ => "/ch/pub?id=mc-$_" } qw(alpha beta gamma);

sub publish {
    my ($ch, $body) = @_;
    my $r = ch_request($port, 'POST', $pub{$ch}, body => $body);
    return ($r->{status}, $r->{json} && $r->{json}{id});
}
sub seen { join ',', map { "$_->{channel}:$_->{body}" } $_[0]->messages }

my $s = ch_subscribe($port, '/ch/multi');
is $s->status, 200, 'subscription to "mc-alpha , mc-beta"';
ok wait_subscribers($port, $pub{alpha}, 1), 'mc-alpha counts it';
ok wait_subscribers($port, $pub{beta}, 1), 'mc-beta counts it';
my %id;
my @st;
for (['alpha', 'a1'], ['beta', 'b1'], ['gamma', 'g1'], ['alpha', 'a2'], ['beta', 'b2']) {
    my ($st, $id) = publish(@$_);
    push @st, $st;
    $id{ $_->[1] } = $id;
}
is "@st", '201 201 202 201 201', '201 on both channels, 202 on the third';
ok $s->wait_messages(4, 3), 'four messages';
$s->pump(0.3);
is seen($s), 'mc-alpha:a1,mc-beta:b1,mc-alpha:a2,mc-beta:b2',
   'both channels, in publish order, each part naming its channel; not the third';
ok ids_increasing(map { $_->{id} } $s->messages), 'Mxhr-Id increases across the channels';
is_deeply [ map { $_->{id} } $s->messages ], [ @id{qw(a1 b1 a2 b2)} ], 'the publishers\' ids';
is_deeply [ map { $_->{seq} } $s->parts ], [ 1 .. scalar(my @all = $s->parts) ],
          'one Mxhr-Seq count for the stream, counting its parts';
ok !defined $s->{wire_error}, 'wire format' or diag $s->{wire_error};

# Resume from an id of one channel: the other's later messages too.
for my $from (qw(a1 b1)) {
    my $r = ch_subscribe($port, '/ch/multi', headers => { 'Last-Event-ID' => $id{$from} });
    ok !defined $r->header('mxhr-history'), "resume from $from: nothing lost";
    my $want = $from eq 'a1' ? 'mc-beta:b1,mc-alpha:a2,mc-beta:b2' : 'mc-alpha:a2,mc-beta:b2';
    my $n = () = $want =~ /,/g;
    ok $r->wait_messages($n + 1, 3), "resume from $from: the kept messages";
    $r->pump(0.3);
    is seen($r), $want, "resume from $from: every later message of both, in id order";
    $r->close;
}

# A disconnect; messages of both channels meanwhile.
my $last = ($s->messages)[-1]{id};
$s->close;
for (['beta', 'b3'], ['alpha', 'a3']) {
    my (undef, $id) = publish(@$_);
    $id{ $_->[1] } = $id;
}
$s = ch_subscribe($port, '/ch/multi', headers => { 'Last-Event-ID' => $last });
ok $s->wait_messages(2, 3), 'reconnected with the last Mxhr-Id';
is seen($s), 'mc-beta:b3,mc-alpha:a3', 'gets what both channels had meanwhile, in id order';
ok !defined $s->header('mxhr-history'), 'nothing lost';
ok wait_subscribers($port, $pub{alpha}, 1) && wait_subscribers($port, $pub{beta}, 1),
   'subscribed to both again';
my ($st4) = publish('alpha', 'a4');
my ($st5) = publish('beta', 'b4');
is "$st4 $st5", '201 201', 'live messages on both';
ok $s->wait_messages(4, 3), 'arrive';
is seen($s), 'mc-beta:b3,mc-alpha:a3,mc-alpha:a4,mc-beta:b4', 'after the resumed ones';
$s->close;

# Query form: ?id=X,Y (URL-decoded comma).
my ($x, $y) = (uniq_name('mx'), uniq_name('my'));
$s = ch_subscribe($port, "/ch/sub?id=$x%2C$y");
is $s->status, 200, '?id=X%2CY subscribes to two';
ok wait_subscribers($port, "/ch/pub?id=$y", 1), 'the second counts it';
is ch_request($port, 'POST', "/ch/pub?id=$y", body => 'to y')->{status}, 201, 'to Y: 201';
is ch_request($port, 'POST', "/ch/pub?id=$x", body => 'to x')->{status}, 201, 'to X: 201';
ok $s->wait_messages(2, 3), 'both arrive';
is seen($s), "$y:to y,$x:to x", 'in order, Mxhr-Channel right';
$s->close;
