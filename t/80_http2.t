# Through mod_http2 (h2c, prior knowledge) where the MPM supports it;
# under prefork mod_http2 turns itself off and the same request falls
# back to HTTP/1.1.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use MxhrTest;

plan tests => 6;

my $port = server_port();
my $h2 = MxhrTest::mpm() ne 'prefork';
my $flag = $h2 ? '--http2-prior-knowledge' : '--http2';
my $out = `curl -sS -i --max-time 10 $flag http://127.0.0.1:$port/stream 2>&1`;
is $? >> 8, 0, 'curl completes the stream' or diag $out;
my ($head, $body) = split /\r\n\r\n/, $out, 2;
$body //= '';
like $head, $h2 ? qr{^HTTP/2 200} : qr{^HTTP/1\.1 200},
     $h2 ? 'served over HTTP/2' : 'prefork: served over HTTP/1.1';
my ($ct) = $head =~ /^content-type:\s*(.+?)\r?$/mi;
like $ct, qr{^multipart/x-mixed-replace; boundary="test-boundary"}, 'type';
my @p = MxhrTest::parse_multipart($ct, $body);
is scalar @p, 3, 'three parts';
is $body, MxhrTest::wire_bytes('test-boundary', 1, @p), 'exact bytes';
is join(',', map { $_->{seq} } @p), '1,2,3', 'sequence numbers';
