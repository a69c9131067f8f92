# A publish reads its body once: into one buffer of its Content-Length,
# or, chunked, into one that grows without keeping its old copies. A
# private prefork server with one child takes a 12 MB body both ways;
# the child's peak resident memory (VmHWM, which counts the store's
# shared memory it writes the message into) may grow by the body read
# once and stored once, not by the ~2x more that doubling buffers kept
# in the request's pool cost.
use strict;
use warnings FATAL => 'all';
use Test::More;
use MxhrServer;
use MxhrChannel;

-r "/proc/self/status" or plan skip_all => 'no /proc';
plan tests => 8;

my $MB = 1024 * 1024;
my $size = 12 * $MB;
my $conf = <<'CONF';
MxhrStoreSize 64m
<Location /pub>
    SetHandler mxhr-publish
    MxhrChannel %{mxhr_arg:id}
    MxhrMessageMaxSize 16m
</Location>
CONF
# One child: its peak is the publish's.
my %pool = (children => 1, min_spare => 1, max_spare => 1, limit => 1,
            workers => 1, max_conns => 0);

# The peak resident memory of the server's one child, in bytes.
sub hwm {
    my @peaks = values %{ $_[0]->peak_memory };
    return @peaks == 1 ? $peaks[0] : undef;
}

# A fresh server for each way, so that neither finds the other's peak.
for my $how (qw(chunked length)) {
    my $srv = MxhrServer->start(mpm => 'prefork', pool => \%pool, conf => $conf,
        expect_errors => [MxhrServer::blocking_pool_full('prefork')]);
    # One small publish first: the child's code and pools are in use.
    my $r = ch_request($srv->port, 'POST', '/pub?id=warm', body => 'x');
    is $r->{status}, 202, "$how: a small publish (202)";
    my $before = hwm($srv);
    my $body = join '', map { chr(48 + $_ % 10) x 65536 } 1 .. $size / 65536;
    my %o = $how eq 'chunked'
        ? (chunks => [ map { substr $body, $_ * 65536, 65536 } 0 .. $size / 65536 - 1 ])
        : (body => $body);
    $r = ch_request($srv->port, 'POST', "/pub?id=big", %o,
                    type => 'application/octet-stream', timeout => 30);
    is $r->{status}, 202, "$how: a 12 MB body is published (202)";
    my $after = hwm($srv);
    my $grew = defined $before && defined $after ? $after - $before : -1;
    diag sprintf "%s: the child's peak memory grew by %.1f MB for a %d MB body",
        $how, $grew / $MB, $size / $MB;
    # Read once and stored once: 2x (measured 2.0-2.2x), and room for the
    # rest; the doubling buffers took 3.3-3.5x.
    ok $grew >= 0 && $grew < 2.7 * $size,
       "$how: the child's peak memory grew by less than 2.7x the body";
    my $log = $srv->error_log;
    ok $log !~ /\[(?:[a-z_]+:)?(?:error|crit|emerg)\]/, "$how: no error in the log"
        or diag $log;
    $srv->stop;
}
