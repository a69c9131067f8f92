# Server-sent events (issue 9), part 6: through mod_http2 (h2c, prior
# knowledge) where the MPM supports it; under prefork mod_http2 turns
# itself off and the same requests are HTTP/1.1. A subscription's
# events and the clock's, byte for byte and parsed, ending on DELETE and
# at the limit; HEAD.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use MxhrTest qw(server_port mpm);
use MxhrSse;

plan tests => 9 + 7 + 3;

my $port = server_port();
my $h2 = mpm() ne 'prefork';
my $flag = $h2 ? '--http2-prior-knowledge' : '--http2';
my $proto = $h2 ? qr{^HTTP/2 200} : qr{^HTTP/1\.1 200};
my $served = $h2 ? 'served over HTTP/2' : 'prefork: served over HTTP/1.1';

sub head_body {
    my $out = shift // '';
    my ($head, $body) = split /\r\n\r\n/, $out, 2;
    return ($head // '', $body // '');
}

# A subscription.
my $ch = uniq_channel('h2');
my $pub = "/sse/pub?c=$ch";
open my $curl, '-|', 'curl', '-sS', '-i', '-N', '--max-time', '10', $flag,
     '-H', 'Accept: text/event-stream', "http://127.0.0.1:$port/sse/sub?c=$ch"
    or die "curl: $!";
binmode $curl;
ok wait_subscribers($port, $pub, 1, 5), 'curl subscribed';
my @msgs = ([ "over h2\r\nsecond\rthird\n" ], [ "\x00\xFF binary" ], [ 'named', 'h2name' ], [ '' ]);
my $want = '';
for (@msgs) {
    my ($body, $event) = @$_;
    my $r = http_request($port, 'POST', $pub, body => $body,
                         headers => { defined $event ? ('X-EventSource-Event' => $event) : () });
    my $b64 = $body =~ /\xFF/;
    $want .= sse_event_bytes(id => $r->{json}{id},
                             event => $b64 ? 'message-base64' : $event,
                             data => $b64 ? sse_base64_data($body) : $body);
}
# Every message delivered before the channel is deleted.
wait_until(5, sub { my $i = channel_info($port, $pub); $i && $i->{messages} == @msgs });
select undef, undef, undef, 0.5;
is http_request($port, 'DELETE', $pub)->{status}, 200, 'DELETE ends the stream';
my $out = do { local $/; <$curl> };
close $curl;
is $? >> 8, 0, 'curl completes' or diag $out;
my ($head, $body) = head_body($out);
like $head, $proto, $served;
like $head, qr{^content-type: text/event-stream; charset=utf-8\r?$}mi, 'event stream';
is $body, ":\n\n" . $want . sse_event_bytes(event => 'mxhr-close', data => 'deleted'),
   'exact bytes';
my $p = sse_parse($body);
is_deeply [ map { $_->{type} } $p->events ],
          [ 'message', 'message-base64', 'h2name', 'message', 'mxhr-close' ], 'event types';
is_deeply [ map { $_->{data} } $p->events ],
          [ "over h2\nsecond\nthird\n", MxhrSse::sse_base64_data("\x00\xFF binary"), 'named', '',
            'deleted' ], 'data as a browser reads it';
ok !$p->incomplete, 'nothing after the last event';

# The clock, with retry.
$out = `curl -sS -i --max-time 10 $flag http://127.0.0.1:$port/sse/clock/retry 2>&1`;
is $? >> 8, 0, 'clock: curl completes' or diag $out;
($head, $body) = head_body($out);
like $head, $proto, "clock: $served";
like $head, qr{^content-type: text/event-stream; charset=utf-8\r?$}mi, 'clock: event stream';
$p = sse_parse($body);
is_deeply [ map { [ $_->{type}, $_->{last_event_id} ] } $p->events ],
          [ [ 'message', 1 ], [ 'message', 2 ], [ 'message', 3 ], [ 'mxhr-close', 3 ] ],
          'clock: three sections and the closing event';
is $p->retry, 2000, 'clock: retry';
my @t = map { $_->{data} } $p->events;
is $body, "retry: 2000\n\n" . join('', map { sse_event_bytes(id => $_ + 1, data => $t[$_]) } 0 .. 2)
          . sse_event_bytes(event => 'mxhr-close', data => 'limit'), 'clock: exact bytes';
like $t[0], qr/\A\d\d:\d\d:\d\d\.\d{3}\z/, 'clock: the time';

# HEAD.
$out = `curl -sS -I --max-time 10 $flag -H 'Accept: text/event-stream' http://127.0.0.1:$port/sse/clock 2>&1`;
is $? >> 8, 0, 'HEAD: curl completes' or diag $out;
like $out, $proto, "HEAD: $served";
like $out, qr{^content-type: text/event-stream; charset=utf-8\r?$}mi, 'HEAD: event stream';
