# The exact wire format, parsed by MIME::Parser and compared byte for byte.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use MxhrTest;

plan tests => 43;

# HTTP/1.1 (chunked on the wire, undone by the client)
my $s = stream_open('/stream');
is $s->status, 200, 'GET streams with 200';
is $s->header('content-type'),
   'multipart/x-mixed-replace; boundary="test-boundary"',
   'default format is x-mixed-replace with the configured boundary';
is $s->header('cache-control'), 'no-cache, no-store', 'Cache-Control';
is $s->header('x-accel-buffering'), 'no', 'X-Accel-Buffering';
ok !defined $s->header('content-length'), 'no Content-Length';
ok $s->chunked, 'HTTP/1.1 response is chunked';
ok $s->read_all(5), 'stream of 3 sections completes';
my @p = $s->parts;
is scalar @p, 3, 'MIME parser finds 3 parts';
for my $i (0 .. 2) {
    my $n = $i + 1;
    is $p[$i]{type}, 'text/plain; charset=utf-8', "part $n type";
    is $p[$i]{seq}, $n, "part $n Mxhr-Seq";
    is $p[$i]{length}, length $p[$i]{body}, "part $n Content-Length";
    like $p[$i]{body}, qr/^\d\d:\d\d:\d\d\.\d{3}\z/, "part $n is HH:MM:SS.mmm";
}
is $s->body, wire_bytes('test-boundary', 1, @p),
   'bytes on the wire are exactly as specified';
is substr($s->body, -21), "\r\n--test-boundary--\r\n",
   'ends with the close-delimiter';

# HTTP/1.0: close-delimited, no chunking
$s = stream_open('/stream', proto => '1.0');
is $s->status, 200, 'HTTP/1.0 GET streams';
ok !$s->chunked, 'HTTP/1.0 response is not chunked';
ok $s->read_all(5), 'HTTP/1.0 stream ends (connection closed)';
@p = $s->parts;
is scalar @p, 3, 'HTTP/1.0: 3 parts';
is $s->body, wire_bytes('test-boundary', 1, @p), 'HTTP/1.0: exact bytes';

# A part is complete, delimiter included, before the next one is due.
$s = stream_open('/long');
ok $s->read_until(2, sub { $_[0]->parts_complete >= 1 }),
   'first part arrives with its delimiter at once';
like $s->body, qr/\r\n--long\z/, 'and nothing after the delimiter yet';
$s->close;

# Format selection
$s = stream_open('/stream', headers => { Accept => 'multipart/mixed' });
is $s->header('content-type'), 'multipart/mixed; boundary="test-boundary"',
   'Accept: multipart/mixed picks multipart/mixed';
like $s->header('vary'), qr/Accept/, 'Vary: Accept with MxhrFormat auto';
$s->close;
$s = stream_open('/stream',
                 headers => { Accept => 'multipart/mixed;q=0, */*' });
like $s->header('content-type'), qr{^multipart/x-mixed-replace},
     'q=0 does not pick multipart/mixed';
$s->close;
$s = stream_open('/mixed');
like $s->header('content-type'), qr{^multipart/mixed;}, 'MxhrFormat mixed';
ok !defined $s->header('vary'), 'no Vary when the format is fixed';
ok $s->read_all(3), 'mixed: completes';
is scalar(my @x = $s->parts), 1, 'mixed: parses';
$s = stream_open('/mixed/replace', headers => { Accept => 'multipart/mixed' });
like $s->header('content-type'), qr{^multipart/x-mixed-replace;},
     'nested MxhrFormat mixed-replace overrides, whatever Accept says';
$s->close;

# A fresh random boundary per response when none is configured.
my @b;
for (1 .. 2) {
    $s = stream_open('/random');
    push @b, $s->boundary;
    ok $s->read_all(3), 'random-boundary stream completes';
    is scalar(my @q = $s->parts), 2, 'and parses with its boundary';
}
ok length($b[0]) >= 24, "random boundary is at least 24 characters ($b[0])";
isnt $b[0], $b[1], 'each response gets its own boundary';
