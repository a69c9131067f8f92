# 500 streams on 25 threads, every section on time; the listener does
# not stall; and the connection cap is named in the error log.
use strict;
use warnings FATAL => 'all';
use Test::More;
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrServer;

plan tests => 12;

my $loc = <<'CONF';
<Location /s>
    SetHandler mxhr-stream
    MxhrBoundary b
    MxhrInterval 1s
    MxhrMaxSections 5
</Location>
CONF
my $srv = MxhrServer->start(pool => { factor => 40 }, conf => $loc);
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

# The engine owns the sockets of plain streams: the event MPM's
# connection cap (ThreadsPerChild + idle threads x
# AsyncRequestWorkerFactor, about 75 here with the default factor 2)
# does not apply to them.
(my $capped = $loc) =~ s/MxhrMaxSections 5/MxhrMaxSections 3/;
$srv = MxhrServer->start(pool => {}, conf => $capped . <<'CONF');
<Location /kept>
    SetHandler mxhr-stream
    MxhrBoundary b
    MxhrInterval 1s
    MxhrMaxSections 3
    MxhrKeepRequest On
</Location>
CONF
$r = $srv->open_streams('/s', 300);
$r->pump(2, sub { !grep { !defined $_->{status} } $_[0]->conns });
is scalar(grep { ($_->{status} // 0) == 200 } $r->conns), 300,
   'with the default AsyncRequestWorkerFactor, 300 streams on 25 threads all served';
$r->pump(3, sub { !grep { !$_->{closed} } $_[0]->conns });
is scalar(grep { $_->{closed} && @{ $_->{parts} } == 3 } $r->conns), 300,
   'each got its 3 sections and the closing delimiter';
$r->close_all;

# Streams that keep their connection (MxhrKeepRequest) still count: at
# the cap a stream is refused with 503 at once, never left unanswered,
# and the error log says what to raise.
$r = $srv->open_streams('/kept', 120);
$r->pump(3, sub { !grep { !defined $_->{status} } $_[0]->conns });
my $served = grep { ($_->{status} // 0) == 200 } $r->conns;
my $refused = grep { ($_->{status} // 0) == 503 } $r->conns;
is $served + $refused, 120, "every stream answered at once ($served 200, $refused 503)";
cmp_ok $refused, '>', 0, 'the cap bites for kept connections';
like $srv->error_log, qr/MXHR031: this child holds \d+ suspended streams.*raise AsyncRequestWorkerFactor to at least/,
     'the connection cap is reported with the setting to raise';
$r->close_all;
$srv->stop;
