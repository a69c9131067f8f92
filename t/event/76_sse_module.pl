# Server-sent events (issue 9) and another module's publish (mod_mxhr.h's
# mxhr_publish, through the test module): its message reaches a
# channel's event streams as an event with the id the module was told,
# on HTTP/1.1 and 1.0. A body that is not UTF-8 cannot be event data
# (README: "it goes base64 ... under the event name <name>-base64"): the
# stream must stay UTF-8 and the bytes must come through.
use strict;
use warnings FATAL => 'all';
use Test::More;
use MIME::Base64 qw(decode_base64);
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrServer;
use MxhrSse;

plan tests => 2 + 2 * 5 + 1 + 2 * 3;

my $srv = MxhrServer->start(test_so => ['mxhr_test'],
                            pool => { threads => 4 }, conf => <<'CONF');
<Location /s>
    SetHandler mxhr-stream
    MxhrChannel %{mxhr_arg:id}
    MxhrFormat sse
    MxhrHeartbeat 0
</Location>
<Location /pub>
    SetHandler mxhr-publish
    MxhrChannel %{mxhr_arg:id}
</Location>
<Location /modpub>
    SetHandler mxhr-test-publish
</Location>
CONF
my $port = $srv->port;
my $ch = uniq_channel('module');

my @s = map { sse_open($port, "/s?id=$ch", proto => $_) } '1.1', '1.0';
ok wait_subscribers($port, "/pub?id=$ch", 2, 5), 'two event streams on the channel';
my $r = http_request($port, 'POST', "/modpub/$ch", body => "hello\r\nworld\rthird", type => 'text/plain');
is $r->{status}, 201, 'published by the module';
my ($id) = split /\n/, $r->{body};
for my $s (@s) {
    my $v = $s->chunked ? '1.1' : '1.0';
    ok $s->wait_events(1, 5), "HTTP/$v: the module's event";
    my @e = $s->events;
    is $e[0]{type}, 'message', "HTTP/$v: a message event";
    is $e[0]{data}, "hello\nworld\nthird", "HTTP/$v: its data, line ends made LF";
    is $e[0]{last_event_id}, $id, "HTTP/$v: the id the module was told";
    ok index($s->body, sse_event_bytes(id => $id, data => "hello\r\nworld\rthird")) >= 0,
       "HTTP/$v: exact bytes";
}

# Not UTF-8.
my $bin = "\xFF\xFE\x00bin\x80";
$r = http_request($port, 'POST', "/modpub/$ch", body => $bin, type => 'application/octet-stream');
is $r->{status}, 201, 'binary published';
for my $s (@s) {
    my $v = $s->chunked ? '1.1' : '1.0';
    ok $s->wait_events(2, 5), "HTTP/$v: binary: an event";
    my $body = $s->body;
    ok utf8::decode($body), "HTTP/$v: binary: the event stream stays UTF-8"
        or diag 'last bytes: ' . (substr($s->body, -30) =~ s/([^\x20-\x7e])/sprintf '\\x%02X', ord $1/ger);
    my $e = ($s->events)[1] // {};
    is $e->{type} && $e->{type} =~ /-base64\z/ ? decode_base64($e->{data}) : undef, $bin,
       "HTTP/$v: binary: base64 of the exact bytes";
}
$_->close for @s;
$srv->stop;
