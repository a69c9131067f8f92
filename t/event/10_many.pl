# 500 streams on 25 threads, every section on time; the listener does
# not stall; and the connection cap is named in the error log.
use strict;
use warnings FATAL => 'all';
use Test::More;
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrServer;

plan tests => 9;

my $loc = <<'CONF';
<Location /s>
    SetHandler mxhr-stream
    MxhrBoundary b
    MxhrInterval 1s
    MxhrMaxSections 5
</Location>
CONF
my $srv = MxhrServer->start(conf => MxhrServer::event_pool(factor => 40) . $loc);
my $n = 500;
my $r = $srv->open_streams('/s', $n);
$r->pump(2.5);
my $st = $srv->status;
cmp_ok $st->{MxhrStreamsSuspended} // 0, '>=', $n - 5,
    "streams are suspended ($st->{MxhrStreamsSuspended} of $n), not holding threads";
cmp_ok $st->{BusyWorkers} // 99, '<=', 5, "few busy workers ($st->{BusyWorkers})";
$r->pump(5, sub { !grep { !$_->{closed} } $_[0]->conns });
my @c = $r->conns;
is scalar(grep { ($_->{status} // 0) == 200 } @c), $n, "all $n streams served";
is scalar(grep { @{ $_->{parts} } == 5 } @c), $n, 'each got all 5 sections';
is scalar(grep { $_->{closed} } @c), $n, 'each ended with its closing delimiter';
my @gaps = sort { $a <=> $b } map {
    my $p = $_->{parts};
    map { $p->[$_] - $p->[$_ - 1] } 1 .. $#$p
} @c;
my $p99 = $gaps[int(0.99 * $#gaps)];
my $max = $gaps[-1];
cmp_ok $p99, '<', 1.25, sprintf 'gap p99 %.3fs (interval 1s)', $p99;
cmp_ok $max, '<', 1.6, sprintf 'gap max %.3fs', $max;
$r->close_all;
$srv->stop;

# The default AsyncRequestWorkerFactor (2) caps a 25-thread child at
# about 75 connections: the error log says what to raise.
(my $capped = $loc) =~ s/MxhrMaxSections 5/MxhrMaxSections 3/;
$srv = MxhrServer->start(conf => MxhrServer::event_pool() . $capped);
$r = $srv->open_streams('/s', 120);
$r->pump(1.2);
like $srv->error_log, qr/MXHR031: this child holds \d+ suspended streams.*raise AsyncRequestWorkerFactor to at least/,
     'the connection cap is reported with the setting to raise';
my $served = grep { ($_->{status} // 0) == 200 } $r->conns;
cmp_ok $served, '<', 100,
     "and it does bite: $served of 120 streams served in the first second";
$r->close_all;
$srv->stop;
