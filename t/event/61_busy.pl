# Streams do not need a free MPM worker: with every worker thread held by
# connections trickling their request headers (slowloris), sections still
# go out on schedule.
#
# Before the engine, each section was a timed callback of the MPM, run
# by a free worker: with all of them reading headers, streams stalled
# (this test measured gaps of 6 s on a0bd899).
use strict;
use warnings FATAL => 'all';
use Test::More;
use IO::Socket::INET ();
use IO::Select ();
use Time::HiRes qw(time sleep);
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrServer;

plan tests => 7;

my ($streams, $slow, $interval, $phase) = (50, 200, 0.2, 6);
# 4 children x 25 threads. mod_reqtimeout is loaded as in a stock
# configuration, with header and body limits generous enough (60 s) that
# it does not cut the trickling connections during the test; each byte
# also restarts the 10 s Timeout: they hold their workers.
# Every worker held is what this test is about: httpd says so.
my $srv = MxhrServer->start(load => ['reqtimeout'], expect_errors => [MxhrServer::pool_full()],
                            pool => { children => 4, threads => 25, factor => 40 }, conf => <<'CONF');
RequestReadTimeout header=60 body=60
<Location /s>
    SetHandler mxhr-stream
    MxhrBoundary b
    MxhrInterval 200ms
</Location>
CONF
my $r = $srv->open_streams('/s', $streams);
$r->pump(1);
is scalar(grep { @{ $_->{parts} } >= 3 } $r->conns), $streams, "$streams streams running";

my @slow;
for (1 .. $slow) {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $srv->port)
        or last;
    syswrite $s, "GET / HTTP/1.1\r\n";
    push @slow, $s;
}
is scalar(@slow), $slow, "$slow slowloris connections";
# The streams are read while the workers take the new connections.
$r->pump(1);
# They hold every worker: a status request is not answered.
my $busy = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $srv->port);
syswrite $busy, "GET /server-status?auto HTTP/1.0\r\n\r\n";
$r->pump(0.3);
# Measure from here on: the streams' sections and the slowloris
# connections' header bytes (one a second) in the same loop.
my %before = map { $_->{id} => scalar @{ $_->{parts} } } $r->conns;
my $t0 = time;
my $next_byte = $t0;
while ((my $left = $t0 + $phase - time) > 0) {
    if (time >= $next_byte) {
        syswrite $_, 'X' for @slow;
        $next_byte += 1;
    }
    my $until = $next_byte - time;
    $r->pump($until < $left ? ($until > 0 ? $until : 0) : $left);
}
my $t_end = time;
# A stream that stalled for good counts its wait up to now as a gap.
my @gaps = sort { $a <=> $b } map {
    my $p = $_->{parts};
    ((map { $p->[$_] - $p->[$_ - 1] } ($before{$_->{id}} || 1) .. $#$p),
     $t_end - ($p->[-1] // $t0))
} $r->conns;
my $sections = 0;
$sections += @{ $_->{parts} } - ($before{ $_->{id} } || 0) for $r->conns;
my $answered = IO::Select->new($busy)->can_read(0) && sysread($busy, my $buf, 100);
# The trickling connections were all still open (not cut by a timeout).
my $cut = grep { IO::Select->new($_)->can_read(0) } @slow;
diag sprintf "%.1fs with %d slowloris connections: %d sections (%d due), "
           . "gaps p50 %.3fs p99 %.3fs max %.3fs; status answered: %s; slowloris cut: %d",
     $t_end - $t0, scalar @slow, $sections, $streams * $phase / $interval,
     $gaps[@gaps / 2], $gaps[int(@gaps * 0.99)], $gaps[-1], $answered ? 'yes' : 'no', $cut;
ok !$answered, 'no worker was free for a status request meanwhile';
is $cut, 0, 'the slowloris connections held on (mod_reqtimeout did not cut them)';
is scalar(grep { $_->{eof} } $r->conns), 0, 'no stream ended';
cmp_ok $sections, '>=', 0.9 * $streams * $phase / $interval, "sections kept coming ($sections)";
cmp_ok $gaps[-1], '<=', $interval + 0.1,
    sprintf "streams' largest gap %.3fs while every worker is busy (interval %.1fs)", $gaps[-1], $interval;
close $_ for @slow;
close $busy;
$r->close_all;
