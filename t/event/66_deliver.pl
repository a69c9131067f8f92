# "Deliver this one buffer to these streams now": a module that pushes
# through mod_mxhr's mxhr_deliver (here the test double mod_mxhr_test)
# reaches every stream of the child at once, with the exact bytes, in
# order, and a stuck client does not hold the others up.
use strict;
use warnings FATAL => 'all';
use Test::More;
use IO::Socket::INET ();
use Time::HiRes qw(time sleep);
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrServer;

plan tests => 10;

# One child, so that every stream is where the delivery happens.
my $srv = MxhrServer->start(test_so => ['mxhr_test'],
                            conf => MxhrServer::event_pool(threads => 4) . <<'CONF');
SendBufferSize 512
MxhrSendBuffer 4k
<Location /s>
    SetHandler mxhr-stream
    MxhrBoundary b
    MxhrInterval 1h
</Location>
<Location /deliver>
    SetHandler mxhr-test-deliver
</Location>
CONF

sub post {
    my ($body, $type, $query) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $srv->port)
        or die "connect: $!";
    print $s "POST /deliver" . ($query ? "?$query" : '') . " HTTP/1.0\r\nHost: x\r\n"
           . "Content-Type: $type\r\nContent-Length: " . length($body) . "\r\n\r\n$body";
    local $/;
    my $r = <$s>;
    my ($status) = ($r // '') =~ m{^HTTP/1\.\d (\d+)};
    return $status // 0;
}

my $r = $srv->open_streams('/s', 20);
my $stuck = $srv->open_streams('/s', 3, rcvbuf => 256, noread => 1);
$r->pump(1, sub { !grep { @{ $_->{parts} } < 1 } $_[0]->conns });
# Binary, with CR LF, NUL and something that looks like a delimiter
# (the boundary is fixed here; a random one cannot collide).
my $body = "hello\x00\xff\r\n--x\r\n" . join('', map { chr } 0 .. 255);
my $t0 = time;
is post($body, 'application/x-test'), 204, 'delivered';
$r->pump(2, sub { !grep { @{ $_->{parts} } < 2 } $_[0]->conns });
my @late = map { $_->{parts}[1] // 99 } $r->conns;
cmp_ok((sort { $b <=> $a } map { $_ - $t0 } @late)[0], '<', 0.5,
       'all 20 streams got it at once (the interval is an hour)');
my @c = $r->conns;
is scalar(grep { @{ $_->{parts} } == 2 } @c), 20, 'each got exactly one part more';

# Many deliveries in a row arrive in order and complete.
my $n = 200;
# The readers read as they go (the small send buffers would otherwise
# drop them as slow clients, which they would then be).
for my $i (1 .. $n) {
    post("m$i", 'text/plain') == 204 or last;
    $r->pump(0.01);
}
$r->pump(5, sub { !grep { @{ $_->{parts} } < 2 + $n } $_[0]->conns });
is scalar(grep { @{ $_->{parts} } == 2 + $n } $r->conns), 20, "$n more deliveries reached all 20";
# The raw bytes of one stream, from a fresh reader that keeps all; and
# of a chunked (HTTP/1.1) one.
my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $srv->port);
print $s "GET /s HTTP/1.0\r\nHost: x\r\n\r\n";
my $s11 = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $srv->port);
print $s11 "GET /s HTTP/1.1\r\nHost: x\r\n\r\n";
my ($got, $got11, $buf) = ('', '', '');
while ($got !~ /\r\n--b/) {
    sysread($s, $buf, 65536) or last;
    $got .= $buf;
}
# Deliveries reach the streams the engine has taken (a few ms after the
# first section).
sleep 0.2;
post($body, 'application/x-test');
post("order-1", 'text/plain');
post("order-2", 'text/plain');
my $end = time + 3;
while (time < $end && $got !~ /order-2\r\n--b/) {
    my $rin = '';
    vec($rin, fileno($s), 1) = 1;
    select(my $rout = $rin, undef, undef, 0.2) or next;
    sysread($s, $buf, 65536) or last;
    $got .= $buf;
}
$end = time + 1;
while (time < $end) {
    my $rin = '';
    vec($rin, fileno($s11), 1) = 1;
    select(my $rout = $rin, undef, undef, 0.2) or next;
    sysread($s11, $buf, 65536) or last;
    $got11 .= $buf;
}
my ($head11, $rest) = split /\r\n\r\n/, $got11, 2;
$rest //= "";
my $plain = '';
while ($rest =~ s/\A([0-9a-f]+)\r\n//i) {
    my $len = hex $1;
    $plain .= substr $rest, 0, $len, '';
    $rest =~ s/\A\r\n// or last;
}
my $want = "\r\nContent-Type: application/x-test\r\nContent-Length: " . length($body)
         . "\r\nMxhr-Seq: 2\r\nX-Test: 1\r\n\r\n$body\r\n--b";
ok index($got, $want) > 0, 'the part is exactly the bytes, with its headers';
like $got, qr/order-1\r\n--b\r\n.*order-2\r\n--b/s, 'in order';
like $head11 // '', qr/^Transfer-Encoding: chunked\r?$/mi, 'HTTP/1.1: chunked';
ok index($plain, $want) > 0 && $plain =~ /order-2\r\n--b\z/,
   'dechunked, the same exact part, then the others';
my $st = $srv->status;
cmp_ok $st->{MxhrSlowClientsDropped} // 0, '>=', 3, 'the stuck clients were dropped, not waited for';
is post('x', 'text/plain', 'nobody'), 204, 'a key that no stream has: delivered to none, no error';
$r->close_all;
$stuck->close_all;
