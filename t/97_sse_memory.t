# An event costs a subscriber one block of the bytes it sends: a body
# that is not UTF-8 is encoded by APR-util straight into its data lines,
# not base64'd into one buffer and then framed into another. A private
# prefork server, two children; one SSE subscriber gets a 12 MB binary
# message (16.4 MB of base64, 17.6 MB of event). The peak resident
# memory (VmHWM) of the subscriber's child may grow by the message
# fetched from the store (12 MB, and the 12 MB of shared memory it reads)
# and the event (17.6 MB): 3.5x the body; the second buffer took it to
# 4.8x.
use strict;
use warnings FATAL => 'all';
use Test::More;
use IO::Socket::INET ();
use IO::Select ();
use Time::HiRes qw(time);
use MxhrServer;
use MxhrChannel;

-r "/proc/self/status" or plan skip_all => 'no /proc';
plan tests => 6;

my $MB = 1024 * 1024;
my $size = 12 * $MB;
my $srv = MxhrServer->start(mpm => 'prefork',
                            expect_errors => [MxhrServer::blocking_pool_full('prefork')],
                            # Two children: the publisher's and the subscriber's.
                            pool => { children => 2, min_spare => 2, max_spare => 2,
                                      limit => 2, workers => 2 },
                            conf => <<'CONF');
MxhrStoreSize 64m
<Location /pub>
    SetHandler mxhr-publish
    MxhrChannel %{mxhr_arg:id}
    MxhrMessageMaxSize 16m
</Location>
<Location /sub>
    SetHandler mxhr-stream
    MxhrChannel %{mxhr_arg:id}
    MxhrFormat sse
</Location>
CONF

my $ch = uniq_name('ssemem');
my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $srv->port,
                              Timeout => 5) or die "connect: $!";
binmode $s;
print $s "GET /sub?id=$ch HTTP/1.0\r\nHost: x\r\n\r\n";
ok wait_subscribers($srv->port, "/pub?id=$ch", 1, 5), 'one SSE subscriber';
# A small message first: the subscriber's code paths are in use.
my $r = ch_request($srv->port, 'POST', "/pub?id=$ch", body => "\xff");
is $r->{status}, 201, 'a small binary message (201)';
my $got = '';
my $sel = IO::Select->new($s);
my $read_until = sub {
    my ($re, $secs) = @_;
    my $end = time + $secs;
    while ($got !~ $re && time < $end) {
        next unless $sel->can_read(0.2);
        my $n = sysread $s, my $buf, 1 << 20;
        last unless $n;
        $got .= $buf;
    }
    return $got =~ $re;
};
ok $read_until->(qr/event: message-base64\ndata: \/w==\n\n/, 10),
   '... arrives as one base64 event';
$got = '';

my $before = $srv->peak_memory;
my $body = join '', map { chr($_ % 256) x 4096 } 1 .. $size / 4096;
$r = ch_request($srv->port, 'POST', "/pub?id=$ch", body => $body,
                type => 'application/octet-stream', timeout => 30);
is $r->{status}, 201, 'a 12 MB binary message (201)';
# All of it: the last data line and the blank line.
ok $read_until->(qr/==\n\n\z|[^=\n]\n\n\z/, 60) && length($got) > $size * 4 / 3,
   'the subscriber gets the whole event (' . length($got) . ' bytes)';
my $after = $srv->peak_memory;
my $grew = 0;
for my $pid (keys %$after) {
    my $d = $after->{$pid} - ($before->{$pid} // $after->{$pid});
    $grew = $d if $d > $grew;
}
diag sprintf "the subscriber's child's peak memory grew by %.1f MB for a %d MB body",
    $grew / $MB, $size / $MB;
ok $grew > 0 && $grew < 4.1 * $size,
   "the subscriber's child's peak memory grew by less than 4.1x the body";
close $s;
$srv->stop;
