# Server-sent events (issue 9) and mxhr_deliver(): another module's
# message reaches event streams as an event (data lines, no id, so a
# browser's lastEventId stays the stream's own), on HTTP/1.1 and 1.0.
# A body that is not UTF-8 cannot be event data (README: "it goes
# base64 ... under the event name <name>-base64"): the stream must stay
# UTF-8 and the bytes must come through.
use strict;
use warnings FATAL => 'all';
use Test::More;
use Time::HiRes qw(sleep);
use MIME::Base64 qw(decode_base64);
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrServer;
use MxhrSse;

plan tests => 3 + 2 * 5 + 1 + 2 * 3;

# One child, so that every stream is where the delivery happens.
my $srv = MxhrServer->start(test_so => ['mxhr_test'],
                            pool => { threads => 4 }, conf => <<'CONF');
<Location /s>
    SetHandler mxhr-stream
    MxhrFormat sse
    MxhrInterval 1h
</Location>
<Location /deliver>
    SetHandler mxhr-test-deliver
</Location>
CONF
my $port = $srv->port;

my @s = map { sse_open($port, '/s', proto => $_) } '1.1', '1.0';
is scalar(grep { $_->wait_events(1, 5) } @s), 2, 'two event streams, each with its first section';
ok wait_until(5, sub { ($srv->status->{MxhrStreamsSuspended} // 0) >= 2 }),
   'both on the push engine';
# A delivery made the moment the status counts them is lost (for
# multipart streams too: not what this test is about); a moment later
# it is not.
sleep 0.5;
my $r = http_request($port, 'POST', '/deliver', body => "hello\r\nworld\rthird", type => 'text/plain');
is $r->{status}, 204, 'delivered';
for my $s (@s) {
    my $v = $s->chunked ? '1.1' : '1.0';
    ok $s->wait_events(2, 5), "HTTP/$v: the delivered event";
    my @e = $s->events;
    is $e[1]{type}, 'message', "HTTP/$v: a message event";
    is $e[1]{data}, "hello\nworld\nthird", "HTTP/$v: its data, line ends made LF";
    is $e[1]{last_event_id}, '1', "HTTP/$v: no id of its own (the clock's stays)";
    is $s->body, sse_event_bytes(id => 1, data => $e[0]{data})
                 . sse_event_bytes(data => "hello\r\nworld\rthird"), "HTTP/$v: exact bytes";
}

# Not UTF-8.
my $bin = "\xFF\xFE\x00bin\x80";
$r = http_request($port, 'POST', '/deliver', body => $bin, type => 'application/octet-stream');
is $r->{status}, 204, 'binary delivered';
for my $s (@s) {
    my $v = $s->chunked ? '1.1' : '1.0';
    ok $s->wait_events(3, 5), "HTTP/$v: binary: an event";
    my $body = $s->body;
    ok utf8::decode($body), "HTTP/$v: binary: the event stream stays UTF-8"
        or diag 'last bytes: ' . (substr($s->body, -30) =~ s/([^\x20-\x7e])/sprintf '\\x%02X', ord $1/ger);
    my $e = ($s->events)[2] // {};
    is $e->{type} && $e->{type} =~ /-base64\z/ ? decode_base64($e->{data}) : undef, $bin,
       "HTTP/$v: binary: base64 of the exact bytes";
}
$_->close for @s;
$srv->stop;
