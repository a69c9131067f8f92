# Server-sent events (issue 9), part 4: resume. Last-Event-ID (what
# EventSource sends when it reconnects) or ?last_event_id= gets exactly
# the messages after that id, then live ones. An id whose history is
# gone (garbage, evicted, another store) gets an event
# "mxhr-history-lost" first (EventSource cannot read the Mxhr-History
# header, which is there too), then the oldest kept message.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use MxhrTest qw(server_port);
use MxhrSse;
use Time::HiRes qw(sleep);

plan tests => 8 + 5 + 4 + 2 * 7 + 8 + 6;

my $port = server_port();

sub publish {
    my ($pub, $body, %h) = @_;
    my $r = http_request($port, 'POST', $pub, body => $body, type => 'text/plain',
                         headers => \%h);
    die "publish to $pub: $r->{status}" unless $r->{json} && $r->{json}{id};
    return $r->{json}{id};
}

# The events a stream must carry, as bytes (heartbeats aside).
sub bytes_of {
    join '', map { sse_event_bytes(%$_) } @_;
}

my $ch = uniq_channel('resume');
my $pub = "/sse/pub?c=$ch";
my @m = map { { data => "m$_", id => publish($pub, "m$_\r\nline 2") } } 1 .. 5;
$_->{data} .= "\r\nline 2" for @m;

# Exactly what came after the id, then live messages.
my $s = sse_open($port, "/sse/sub?c=$ch", headers => { 'Last-Event-ID' => $m[1]{id} });
is $s->status, 200, 'Last-Event-ID: 200';
ok !defined $s->header('mxhr-history'), 'Last-Event-ID: no Mxhr-History';
ok $s->wait_events(3, 5), 'Last-Event-ID: three events';
push @m, { data => 'live', id => publish($pub, 'live') };
ok $s->wait_events(4, 5), 'Last-Event-ID: then the live one';
is strip_heartbeats($s->body), bytes_of(@m[2 .. 5]), 'Last-Event-ID: exactly m3, m4, m5, live';
is_deeply [ map { $_->{last_event_id} } $s->events ], [ map { $_->{id} } @m[2 .. 5] ],
          'Last-Event-ID: their ids, as a browser reads them';
is_deeply [ map { $_->{type} } $s->events ], [ ('message') x 4 ], 'Last-Event-ID: no other event';
is $s->parser->last_event_id, $m[5]{id}, 'Last-Event-ID: the browser would resume from the live one';
$s->close;

# The same with the query argument (an EventSource's first request
# cannot send the header), over HTTP/1.0.
$s = sse_open($port, "/sse/sub?c=$ch&last_event_id=$m[3]{id}", proto => '1.0');
ok $s->wait_events(2, 5), '?last_event_id=: two events';
is strip_heartbeats($s->body), bytes_of(@m[4, 5]), '?last_event_id=: exactly m5 and live';
ok !defined $s->header('mxhr-history'), '?last_event_id=: nothing lost';
ok !$s->chunked, '?last_event_id=: HTTP/1.0, not chunked';
is scalar(grep { $_->{type} eq 'mxhr-history-lost' } $s->events), 0, '?last_event_id=: no lost event';
$s->close;

# The last id: nothing to catch up, then what comes.
$s = sse_open($port, "/sse/sub?c=$ch", headers => { 'Last-Event-ID' => $m[5]{id} });
ok wait_subscribers($port, $pub, 1, 5), 'up to date: subscribed';
ok !$s->read_until(0.5, sub { scalar $_[0]->events }), 'up to date: no event';
push @m, { data => 'next', id => publish($pub, 'next') };
ok $s->wait_events(1, 5), 'up to date: the next one';
is strip_heartbeats($s->body), bytes_of($m[6]), 'up to date: exactly it';
$s->close;

# History lost: a garbage id, an id of another store. The lost event
# first (no id: the browser's last event id is not touched), then every
# kept message from the oldest.
for my $bad ('garbage', '1-1') {
    $s = sse_open($port, "/sse/sub?c=$ch", headers => { 'Last-Event-ID' => $bad });
    is $s->header('mxhr-history'), 'lost', "lost ($bad): Mxhr-History: lost";
    ok $s->wait_events(1 + @m, 5), "lost ($bad): the lost event and every kept message";
    my @e = $s->events;
    is_deeply $e[0], { type => 'mxhr-history-lost', data => 'lost', last_event_id => '' },
              "lost ($bad): first, an mxhr-history-lost event without id";
    is_deeply [ map { $_->{last_event_id} } @e[1 .. $#e] ], [ map { $_->{id} } @m ],
              "lost ($bad): then the oldest kept, in order";
    is strip_heartbeats($s->body),
       sse_event_bytes(event => 'mxhr-history-lost', data => 'lost') . bytes_of(@m),
       "lost ($bad): exact bytes";
    is $s->body =~ tr/\0//, 0, "lost ($bad): no NUL";
    is scalar(grep { $_->{type} eq 'mxhr-history-lost' } @e), 1, "lost ($bad): said once";
    $s->close;
}

# Evicted: a publisher keeping 5 (each message at least a second).
my $lch = uniq_channel('evict');
my $lpub = "/sse/pub5?c=$lch";
my @l = map { { data => "e$_", id => publish($lpub, "e$_") } } 1 .. 8;
sleep 1.2;
push @l, { data => 'e9', id => publish($lpub, 'e9') };
my $kept = wait_until(5, sub { my $i = channel_info($port, $lpub); $i && $i->{messages} == 5 && $i });
ok $kept, 'evicted: the channel keeps 5 after a second';
$s = sse_open($port, "/sse/sub?c=$lch", headers => { 'Last-Event-ID' => $l[1]{id} });
is $s->header('mxhr-history'), 'lost', 'evicted: Mxhr-History: lost';
ok $s->wait_events(6, 5), 'evicted: six events';
my @e = $s->events;
is $e[0]{type}, 'mxhr-history-lost', 'evicted: the lost event first';
is_deeply [ map { $_->{data} } @e[1 .. $#e] ], [ map { $_->{data} } @l[4 .. 8] ],
          'evicted: then the 5 kept (e5 to e9)';
is strip_heartbeats($s->body),
   sse_event_bytes(event => 'mxhr-history-lost', data => 'lost') . bytes_of(@l[4 .. 8]),
   'evicted: exact bytes';
# From the oldest kept: nothing lost.
$s->close;
$s = sse_open($port, "/sse/sub?c=$lch", headers => { 'Last-Event-ID' => $l[4]{id} });
ok $s->wait_events(4, 5), 'evicted: resuming from the oldest kept';
is strip_heartbeats($s->body), bytes_of(@l[5 .. 8]), 'evicted: gets the 4 after it, nothing lost';
$s->close;

# Several channels: one id resumes both, in id order, named by channel.
my ($a, $b) = (uniq_channel('ra'), uniq_channel('rb'));
my @x;
for ([ $a, 'a1' ], [ $b, 'b1' ], [ $a, 'a2' ], [ $b, 'b2 named', 'named' ], [ $a, 'a3' ]) {
    my ($c, $d, $n) = @$_;
    push @x, { data => $d, event => $n // $c,
               id => publish("/sse/pub?c=$c", $d, defined $n ? ('X-EventSource-Event' => $n) : ()) };
}
$s = sse_open($port, "/sse/sub?c=$a,$b", headers => { 'Last-Event-ID' => $x[1]{id} });
ok $s->wait_events(3, 5), 'multi resume: three events';
is strip_heartbeats($s->body), bytes_of(@x[2 .. 4]), 'multi resume: exact bytes';
is_deeply [ map { $_->{type} } $s->events ], [ $a, 'named', $a ],
          'multi resume: names kept with the messages';
$s->close;
$s = sse_open($port, "/sse/sub?c=$a,$b", headers => { 'Last-Event-ID' => 'nope' });
ok $s->wait_events(1 + @x, 5), 'multi lost: every kept message';
is_deeply [ map { $_->{type} } $s->events ], [ 'mxhr-history-lost', $a, $b, $a, 'named', $a ],
          'multi lost: said once, then both channels from the oldest';
is_deeply [ map { $_->{data} } $s->events ], [ 'lost', map { $_->{data} } @x ], 'multi lost: data';
$s->close;
