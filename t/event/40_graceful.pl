# A graceful restart with suspended streams: every stream ends with its
# closing delimiter at once, the old child exits, the server serves on.
# The signal is sent at several points of the one-second cycle, among
# them the moment the timers are due.
use strict;
use warnings FATAL => 'all';
use Test::More;
use Time::HiRes qw(time sleep);
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrServer;

my @offsets = (0.0, 0.3, 0.5, 0.97);
plan tests => 4 * @offsets + 1;

# Room for a new generation beside the old one.
my $srv = MxhrServer->start(pool => { children => 2, limit => 4, factor => 40 }, conf => <<'CONF');
GracefulShutdownTimeout 30
<Location /s>
    SetHandler mxhr-stream
    MxhrBoundary b
    MxhrInterval 1s
</Location>
CONF

for my $off (@offsets) {
    my $r = $srv->open_streams('/s', 200);
    $r->pump(1.2, sub { !grep { @{ $_->{parts} } < 1 } $_[0]->conns });
    my @old = $srv->children;
    # Wait for a point of the cycle relative to the first section.
    my $t_first = (sort { $a <=> $b } map { $_->{parts}[0] // time } $r->conns)[0];
    my $at = $t_first + 2 + $off;
    sleep $at - time if $at > time;
    my $t0 = time;
    kill 'USR1', $srv->pid;
    $r->pump(5, sub { !grep { !$_->{closed} } $_[0]->conns });
    my $took = time - $t0;
    my $closed = grep { $_->{closed} } $r->conns;
    is $closed, 200, "offset $off: all 200 streams got their closing delimiter";
    # The helper thread ends them at its next look (25ms), not at each
    # stream's next tick (up to a second).
    cmp_ok $took, '<', 0.5, sprintf "offset $off: within %.2fs", $took;
    my $gone = 0;
    for (1 .. 50) {
        $gone = !grep { kill 0, $_ } @old;
        last if $gone;
        sleep 0.1;
    }
    ok $gone, "offset $off: the old children exited";
    $r->close_all;
    my $again = $srv->open_streams('/s', 5);
    $again->pump(2, sub { !grep { @{ $_->{parts} } < 1 } $_[0]->conns });
    is scalar(grep { @{ $_->{parts} } >= 1 } $again->conns), 5,
       "offset $off: the new generation streams";
    $again->close_all;
}
my $log = $srv->error_log;
unlike $log, qr/(?:Segmentation|exit signal|\[core:(?:crit|emerg)\])/, 'no child crashed';
