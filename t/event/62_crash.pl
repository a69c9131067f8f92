# A child that dies holding streams (SIGKILL: no cleanup runs) gives its
# MxhrMaxStreams places and its share of the gauges back: the parent
# learns of the exit and takes back what the child's row still holds.
use strict;
use warnings FATAL => 'all';
use Test::More;
use Time::HiRes qw(time sleep);
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrServer;

plan tests => 2 * 7;

my $loc = <<'CONF';
MxhrMaxStreams %d
<Location /s>
    SetHandler mxhr-stream
    MxhrBoundary b
    MxhrInterval 200ms
</Location>
CONF

# Sockets a process has open, from /proc (children run as our user).
sub sockets {
    my $pid = shift;
    return scalar grep { (readlink($_) // '') =~ /^socket:/ } glob "/proc/$pid/fd/*";
}

for my $case (['event', 50, MxhrServer::event_pool(children => 2, threads => 10, factor => 40)],
              ['prefork', 8, "StartServers 12\nMinSpareServers 12\nMaxSpareServers 20\n"
                             . "ServerLimit 20\nMaxRequestWorkers 20\n"]) {
    my ($mpm, $max, $pool) = @$case;
    my $srv = MxhrServer->start(mpm => $mpm, conf => $pool . sprintf($loc, $max));
    my %idle = map { $_ => sockets($_) } $srv->children;
    my $r = $srv->open_streams('/s', $max);
    $r->pump(1.5, sub { !grep { !@{ $_->{parts} } } $_[0]->conns });
    is scalar(grep { ($_->{status} // 0) == 200 } $r->conns), $max, "$mpm: $max streams, the limit";
    # The child holding most streams.
    my ($victim) = sort { sockets($b) - ($idle{$b} // 0) <=> sockets($a) - ($idle{$a} // 0) }
                   $srv->children;
    my $held = sockets($victim) - ($idle{$victim} // 0);
    cmp_ok $held, '>', 0, "$mpm: child $victim holds streams ($held sockets more than idle)";
    kill 'KILL', $victim;
    $r->pump(1);
    my $left = grep { !$_->{eof} } $r->conns;
    my ($st, $t0) = ({}, time);
    while (time - $t0 < 5) {
        $st = $srv->status;
        last if ($st->{MxhrStreamsOpen} // -1) == $left;
        sleep 0.2;
    }
    is $st->{MxhrStreamsOpen}, $left,
       sprintf "$mpm: MxhrStreamsOpen is back to the %d still open (%.1fs)", $left, time - $t0;
    my $gauge = $mpm eq 'event' ? 'MxhrStreamsSuspended' : 'MxhrStreamsBlocking';
    is $st->{$gauge}, $left, "$mpm: and $gauge too";
    my $more = $srv->open_streams('/s', $max - $left);
    $more->pump(2, sub { !grep { !@{ $_->{parts} } } $_[0]->conns });
    is scalar(grep { ($_->{status} // 0) == 200 } $more->conns), $max - $left,
       "$mpm: the places are given back: " . ($max - $left) . ' new streams admitted';
    my $over = $srv->open_streams('/s', 1);
    $over->pump(2, sub { defined $_[0]{conns}[0]{status} });
    is $over->{conns}[0]{status}, 503, "$mpm: and one more is refused";
    like $srv->error_log, qr/MXHR003: child $victim exited holding ${\($max - $left)} streams/,
         "$mpm: the error log says what was given back";
    $_->close_all for $r, $more, $over;
    $srv->stop;
}
