# A child that dies holding streams (SIGKILL: no cleanup runs) gives its
# MxhrMaxStreams places and its share of the gauges back: the parent
# learns of the exit and takes back what the child's row still holds.
# Under each MPM one child is killed, then every child holding streams:
# the survivors (streams from before and after the first kill) and the
# new children, which took the rows of the dead. Under event once more
# after a graceful restart, in a generation other than the first.
use strict;
use warnings FATAL => 'all';
use Test::More;
use List::Util qw(min sum0);
use Time::HiRes qw(time sleep);
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrServer;

my $loc = <<'CONF';
MxhrMaxStreams %d
<Location /s>
    SetHandler mxhr-stream
    MxhrBoundary b
    MxhrInterval 200ms
</Location>
CONF

# MPM, MxhrMaxStreams, pool: enough workers for every stream and for
# the requests around them while the dead are replaced; ServerLimit
# leaves room for a new generation beside the old one.
my @cases = (
    ['event', 50, { children => 2, threads => 10, factor => 40, limit => 4 }],
    ['worker', 30, { children => 2, threads => 20, limit => 4, max_spare => 80 }],
    ['prefork', 6, { children => 16, min_spare => 16, max_spare => 20, limit => 20 }],
);
plan tests => 3 * 14 + 8;

# Sockets a process has open, from /proc (children run as our user).
sub sockets {
    my $pid = shift;
    return scalar grep { (readlink($_) // '') =~ /^socket:/ } glob "/proc/$pid/fd/*";
}

# Every stream has its first section, or was refused.
sub answered {
    return !grep { !@{ $_->{parts} } && !$_->{eof} } $_[0]->conns;
}

sub open_all {
    my ($srv, $what, $n) = @_;
    my $r = $srv->open_streams('/s', $n);
    $r->pump(5, \&answered);
    is scalar(grep { ($_->{status} // 0) == 200 && @{ $_->{parts} } } $r->conns),
       $n, "$what: $n streams, the limit";
    return $r;
}

# Kills @victims and checks that what they held was given back: the
# gauges count the streams still open, the error log names each child
# with its count, as many new streams as ended are admitted and one
# more is refused. Returns a reader of every stream still open.
sub crash {
    my ($srv, $what, $max, $r, @victims) = @_;
    my ($gauge, $other) = $srv->{mpm} eq 'event'
        ? ('MxhrStreamsSuspended', 'MxhrStreamsBlocking')
        : ('MxhrStreamsBlocking', 'MxhrStreamsSuspended');
    my $open = grep { !$_->{eof} } $r->conns;
    kill 'KILL', @victims;
    my ($st, $left, %held, $ok) = ({}, $open);
    my $t0 = time;
    while (!$ok && time - $t0 < 5) {
        # Reaped, so every socket they had is closed: the reads below
        # see all the ends, and the counts seen afterwards are final.
        my $reaped = !grep { kill 0, $_ } @victims;
        # (pump would spin with nothing left to read)
        $left = grep { !$_->{eof} } $r->conns;
        $left ? $r->pump(0.2) : sleep 0.2;
        $left = grep { !$_->{eof} } $r->conns;
        my $log = $srv->error_log;
        %held = map { $_ => ($log =~ /MXHR003: child $_ exited holding (\d+) streams/
                             ? $1 : 0) } @victims;
        $st = $srv->status;
        $ok = $reaped && ($st->{MxhrStreamsOpen} // -1) == $left
              && ($st->{$gauge} // -1) == $left && ($st->{$other} // -1) == 0
              && sum0(values %held) == $open - $left;
    }
    is $st->{MxhrStreamsOpen}, $left,
       sprintf "$what: MxhrStreamsOpen is back to the %d still open (%.1fs)",
               $left, time - $t0;
    is(($st->{$gauge} // 'none') . '/' . ($st->{$other} // 'none'), "$left/0",
       "$what: $gauge too, $other 0");
    is sum0(values %held), $open - $left,
       "$what: the error log names the " . ($open - $left) . ' given back ('
       . join(', ', map { "$_: $held{$_}" } sort keys %held) . ')';
    my $more = $srv->open_streams('/s', $max - $left);
    $more->pump(5, \&answered);
    is scalar(grep { ($_->{status} // 0) == 200 } $more->conns), $max - $left,
       "$what: the places are free: " . ($max - $left) . ' new streams admitted';
    my $over = $srv->open_streams('/s', 1);
    $over->pump(5, sub { defined $_[0]{conns}[0]{status} || $_[0]{conns}[0]{eof} });
    is $over->{conns}[0]{status}, 503, "$what: and one more is refused";
    $over->close_all;
    return MxhrServer::Reader->merge($r, $more);
}

# The child holding most streams, with how many sockets more than idle.
sub holder {
    my ($idle, @kids) = @_;
    my %more = map { $_ => sockets($_) - ($idle->{$_} // min values %$idle) } @kids;
    my ($pid) = sort { $more{$b} <=> $more{$a} } @kids;
    return ($pid, $more{$pid});
}

for my $case (@cases) {
    my ($mpm, $max, $pool) = @$case;
    # Children killed on purpose (SIGKILL: httpd may say so).
    my $srv = MxhrServer->start(mpm => $mpm, pool => $pool, conf => sprintf($loc, $max),
                                expect_errors => [qr/exit signal Killed/,
                                                  MxhrServer::blocking_pool_full($mpm)]);
    my %idle = map { $_ => sockets($_) } $srv->children;
    my $base = min values %idle;
    my $r = open_all($srv, $mpm, $max);

    my ($victim, $held) = holder(\%idle, $srv->children);
    cmp_ok $held, '>', 0, "$mpm: child $victim holds streams ($held sockets more than idle)";
    $r = crash($srv, "$mpm, one child killed", $max, $r, $victim);

    # Every child with a stream; a new child counts from its own start.
    my @holders = grep { sockets($_) > $base } $srv->children;
    cmp_ok scalar(@holders), '>', 0, "$mpm: children holding streams: @holders";
    $r = crash($srv, "$mpm, every holder killed", $max, $r, @holders);
    $r->close_all;

    if ($mpm eq 'event') {
        # The old generation's children end their streams and exit; the
        # counts and rows are the new generation's.
        my @old = $srv->children;
        kill 'USR1', $srv->pid;
        my $t0 = time;
        sleep 0.1 while grep({ kill 0, $_ } @old) && time - $t0 < 5;
        ok !grep({ kill 0, $_ } @old), "$mpm: graceful restart, the old children exited";
        %idle = map { $_ => sockets($_) } $srv->children;
        $r = open_all($srv, "$mpm, new generation", $max);
        ($victim, $held) = holder(\%idle, $srv->children);
        cmp_ok $held, '>', 0, "$mpm, new generation: child $victim holds streams";
        $r = crash($srv, "$mpm, new generation, one child killed", $max, $r, $victim);
        $r->close_all;
    }
    unlike $srv->error_log, qr/MXHR002|\[core:(?:crit|emerg)\]/,
           "$mpm: every child had a row; nothing else went wrong";
    $srv->stop;
}
