# Clients that go away release their suspended connections: nothing left
# in CLOSE_WAIT, the counters go back to zero, the child keeps accepting.
use strict;
use warnings FATAL => 'all';
use Test::More;
use Time::HiRes qw(time sleep);
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrServer;

plan tests => 7;

my $srv = MxhrServer->start(pool => { factor => 40 }, conf => <<'CONF');
<Location /s>
    SetHandler mxhr-stream
    MxhrBoundary b
    MxhrInterval 1s
</Location>
CONF
my $n = 300;
my $r = $srv->open_streams('/s', $n);
$r->pump(1.5);
is scalar(grep { @{ $_->{parts} } >= 1 } $r->conns), $n, "$n streams running";
is $srv->status->{MxhrStreamsSuspended}, $n, 'all suspended';
my @kids = $srv->children;
$r->close_all;

# A disconnect is seen at the stream's next look (at most a second).
my ($st, $t0) = ({}, time);
while (time - $t0 < 5) {
    $st = $srv->status;
    last if ($st->{MxhrStreamsOpen} // -1) == 0 && ($st->{ConnsTotal} // -1) <= 1;
    sleep 0.2;
}
is $st->{MxhrStreamsOpen}, 0, sprintf 'no stream left open (%.1fs)', time - $t0;
cmp_ok $st->{ConnsTotal} // 99, '<=', 1, 'the MPM counts no connection left (but ours)';
is $srv->close_wait, 0, 'no socket left in CLOSE_WAIT';
is $st->{MxhrEndedByClient}, $n, 'each counted as ended by the client';

# The same child goes on accepting and streaming.
my $again = $srv->open_streams('/s', 50);
$again->pump(3, sub { !grep { @{ $_->{parts} } < 2 } $_[0]->conns });
ok !(grep { @{ $_->{parts} } < 2 } $again->conns) && join(',', $srv->children) eq join(',', @kids),
   'the same child serves 50 new streams';
$again->close_all;
