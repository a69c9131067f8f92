# The takeover race (issue 15, defect 1): event.c's notify_suspend()
# clears c->sbh after the suspend_connection hooks and only then writes
# cs->suspended = 1 into the connection's pool. A worker preempted
# between the two must not find that pool freed by the engine.
#
# The test knob MXHR_TEST_WORKER_LAG_MS (mxhr_engine.c, worker_lag)
# makes every suspending worker clear c->sbh in the hook and then linger
# 300 ms before it returns, as a preempted worker would; a pool freed
# meanwhile is logged as MXHR046. Streams taken over (their socket
# owned by the engine) and streams kept on their connection
# (MxhrKeepRequest, which end while their worker still lingers) must
# both go on and end normally, with no MXHR046 and no child crash; the
# pools of connections ended before their workers were done are freed
# once they are.
use strict;
use warnings FATAL => 'all';
use Test::More;
use Time::HiRes qw(time sleep);
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrServer;

plan tests => 15;

my $lag_ms = 300;
my $n = 8;
$ENV{MXHR_TEST_WORKER_LAG_MS} = $lag_ms;

my $loc = <<'CONF';
<Location /s>
    SetHandler mxhr-stream
    MxhrBoundary b
    MxhrInterval 100ms
</Location>
<Location /kept>
    SetHandler mxhr-stream
    MxhrBoundary b
    MxhrInterval 100ms
    MxhrMaxSections 3
    MxhrKeepRequest On
</Location>
<Location /short>
    SetHandler mxhr-stream
    MxhrBoundary b
    MxhrInterval 100ms
    MxhrMaxSections 3
</Location>
CONF
my $srv = MxhrServer->start(expect_errors => [MxhrServer::pool_full()],
                            conf => MxhrServer::event_pool(threads => 25,
                                                           factor => 10)
                                    . $loc);
delete $ENV{MXHR_TEST_WORKER_LAG_MS};

# Taken over: each stream goes on well past its worker's lag.
my $r = $srv->open_streams('/s', $n);
$r->pump(20, sub {
    !grep { @{ $_->{parts} } < 6 && !$_->{eof} } $_[0]->conns
});
is scalar(grep { ($_->{status} // 0) == 200 && @{ $_->{parts} } >= 6 }
           $r->conns),
   $n, "$n taken-over streams go on after their workers' ${lag_ms} ms lag";

# Kept on their connection: all three sections and the closing
# delimiter come while the worker still lingers; the engine ends them
# then.
my $k = $srv->open_streams('/kept', $n);
$k->pump(20, sub { !grep { !$_->{eof} } $_[0]->conns });
is scalar(grep { ($_->{status} // 0) == 200 && $_->{closed} } $k->conns), $n,
   "$n kept streams end with their closing delimiter";
$k->close_all;

my $log = $srv->error_log;
my $lagged = () = $log =~ /MXHR045: test: the worker lingers/g;
is $lagged, 2 * $n, 'the knob was on for every stream';

# The clients leave: the engine ends the taken-over streams.
$r->close_all;
my $t0 = time;
my $st = {};
while (time - $t0 < 10) {
    $st = $srv->status;
    last if ($st->{MxhrStreamsOpen} // -1) == 0;
    sleep 0.1;
}
is $st->{MxhrStreamsOpen}, 0, 'every stream ended';

# Streams handed over back to back, the knob still on: the child
# survives many takeovers at once.
$r = $srv->open_streams('/kept', 3 * $n);
$r->pump(30, sub { !grep { !$_->{eof} } $_[0]->conns });
is scalar(grep { ($_->{status} // 0) == 200 && $_->{closed} } $r->conns),
   3 * $n, 3 * $n . ' more kept streams, back to back';
$r->close_all;

# Pools whose workers still lingered were cleared, not freed (MXHR048),
# and each was freed once its worker was done (MXHR049).
my ($kept, $freed) = (0, -1);
$t0 = time;
while (time - $t0 < 10) {
    $log = $srv->error_log;
    $kept = () = $log =~ /MXHR048:/g;
    $freed = () = $log =~ /MXHR049:/g;
    last if $freed == $kept;
    sleep 0.1;
}
cmp_ok $kept, '>', 0, "pools of lingering workers were kept ($kept)";
is $freed, $kept, 'and each was freed once its worker was done';

$log = $srv->error_log;
unlike $log, qr/MXHR046/,
       'no connection pool freed while its worker still ran (MXHR046)';
my @kids = $srv->children;
$srv->stop;
$log = $srv->error_log;
unlike $log, qr/exit signal|AH00052/, 'no child died of a signal';
unlike $log, qr/\[(?:\w+:)?(?:crit|emerg|alert)\]/, 'no crit, alert or emerg';
ok !grep({ kill 0, $_ } @kids), 'the children exited with the server';

# Two workers for 20 taken-over streams, each lingering 200 ms (the
# engine takes each stream, and keeps its pool, while its worker
# lingers): a worker's next
# connection waits for it, so the engine mostly learns that a worker is
# done because it started its next job (the create_connection and
# resume_connection hooks count them), not by its scoreboard status,
# which is SERVER_READY only between two jobs (a few microseconds
# here; the engine looks every 5 ms).
$ENV{MXHR_TEST_WORKER_LAG_MS} = 200;
$srv = MxhrServer->start(expect_errors => [MxhrServer::pool_full()],
                            conf => MxhrServer::event_pool(threads => 2,
                                                       factor => 40)
                                 . $loc);
delete $ENV{MXHR_TEST_WORKER_LAG_MS};
$r = $srv->open_streams('/short', 20);
$r->pump(30, sub { !grep { !$_->{eof} } $_[0]->conns });
is scalar(grep { ($_->{status} // 0) == 200 && $_->{closed} } $r->conns),
   20, '20 streams on two lingering workers';
$r->close_all;
my %why;
$t0 = time;
while (time - $t0 < 10) {
    $log = $srv->error_log;
    $kept = () = $log =~ /MXHR048:/g;
    %why = ();
    $why{$1}++ while $log =~ /MXHR049: .*\((.*?)\)$/mg;
    last if ($why{'idle or gone'} // 0) + ($why{'on its next job'} // 0)
            == $kept;
    sleep 0.1;
}
is(($why{'idle or gone'} // 0) + ($why{'on its next job'} // 0), $kept,
   "each of the $kept pools kept was freed ("
   . join(', ', map { "$_: $why{$_}" } sort keys %why) . ')');
cmp_ok $why{'on its next job'} // 0, '>', 0,
       'workers were seen done by their next job';
@kids = $srv->children;
$srv->stop;
$log = $srv->error_log;
unlike $log, qr/MXHR046|exit signal|AH00052|\[(?:\w+:)?(?:crit|emerg|alert)\]/,
       'no pool freed too soon, no crash';
