# Clients that stop reading hold nobody up: the engine never blocks on a
# client; what one has not taken waits in its bounded send buffer, and
# a client over it is dropped (counted, closed, logged at debug).
#
# 20 stuck clients beside 20 readers of a 1 s stream with ~4 KB
# sections, on 4 worker threads. Before the engine (the MPM's timed
# callbacks, a0bd899) each write to a stuck client blocked its worker
# for up to half the interval, so the readers' sections waited behind
# them: this test measured gaps of 3 s and more there.
use strict;
use warnings FATAL => 'all';
use Test::More;
use Time::HiRes qw(time sleep);
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrServer;
use MxhrTest ();

plan tests => 8;

my ($n, $interval, $run, $drop_within) = (20, 1, 12, 10);
# glibc's strftime pads a field to a width: "%490c" is the date and
# time right-aligned in 490 characters, near the 511 bytes a time may
# take; with a long part Content-Type (the limit is 255) each section
# carries about 800 bytes, so the stuck clients' buffers fill in a few
# sections. A fixed, small kernel send buffer (SendBufferSize, the
# kernel's minimum) and the clients' small SO_RCVBUF: the kernel holds
# little for a client that does not read. The engine's own buffer for
# one (MxhrSendBuffer) is at its minimum; the code before the engine has
# no such directive (it bounded each write in time instead), hence
# <IfDirective>, so the test runs there too.
my $type = 'text/plain; x-pad=' . ('p' x 230);
my $srv = MxhrServer->start(pool => { threads => 4, factor => 40 }, conf => <<"CONF");
SendBufferSize 512
<IfDirective MxhrSendBuffer>
    MxhrSendBuffer 1k
</IfDirective>
<Location /s>
    SetHandler mxhr-stream
    MxhrBoundary b
    MxhrInterval 1s
    MxhrTimeFormat "%H:%M:%S.%L %490c"
    MxhrContentType "$type"
</Location>
CONF
# Interleaved, so stuck and reading streams share the same due times.
my (@stuck, @ok);
for (1 .. $n) {
    push @stuck, $srv->open_streams('/s', 1, rcvbuf => 256, noread => 1);
    push @ok, $srv->open_streams('/s', 1);
}
my $t0 = time;
my $readers = MxhrServer::Reader->merge(@ok);
# Read for $run seconds; meanwhile ask /server-status every half second
# without waiting for it (a server stuck in writes would answer late,
# and waiting would stop the reading and make gaps of our own).
my ($dropped, $t_dropped, $h, $t_next) = (0, undef, undef, 0);
while (time - $t0 < $run) {
    $readers->pump(0.05);
    if ($h) {
        my $st = $srv->status_end($h);
        if ($st) {
            $dropped = $st->{MxhrSlowClientsDropped} // 0;
            $t_dropped //= $h->{t0} - $t0 if $dropped >= $n;
            undef $h;
        }
    }
    elsif (time >= $t_next && !defined $t_dropped) {
        $h = $srv->status_begin;
        $t_next = time + 0.5;
    }
}
my $t_end = time;
my @c = $readers->conns;
# A reader that stalled for good counts its wait up to the end.
my @gaps = sort { $a <=> $b } map {
    my $p = $_->{parts};
    @$p ? ((map { $p->[$_] - $p->[$_ - 1] } 1 .. $#$p), $t_end - $p->[-1])
        : ($t_end - $t0)
} @c;
my $sections = 0;
$sections += @{ $_->{parts} } for @c;
my $st = $srv->status;
$dropped = $st->{MxhrSlowClientsDropped} // 0 unless defined $t_dropped;
diag sprintf "readers: %d sections in %.1fs, gaps p50 %.3fs p90 %.3fs max %.3fs; "
           . "stuck dropped: %d (all %s)",
     $sections, $t_end - $t0, $gaps[@gaps / 2], $gaps[int(@gaps * 0.9)], $gaps[-1],
     $dropped, defined $t_dropped ? sprintf('by %.1fs', $t_dropped) : 'not yet';

cmp_ok $gaps[-1], '<=', $interval + 0.1,
    sprintf "readers' largest gap %.3fs (interval %ds, bound %.1fs)",
            $gaps[-1], $interval, $interval + 0.1;
cmp_ok $sections, '>=', $n * ($run - 1), "the readers got their sections ($sections)";
is scalar(grep { !$_->{eof} } @c), $n, 'no reader was dropped';
ok defined $t_dropped && $t_dropped <= $drop_within,
    sprintf "the %d stuck clients were dropped within %ds (%d dropped%s)", $n, $drop_within,
            $dropped, defined $t_dropped ? sprintf(', all by %.1fs', $t_dropped) : '';
is $st->{MxhrStreamsOpen}, $n, "only the $n readers are open ($st->{MxhrStreamsOpen})";
my $why = () = $srv->error_log =~ /MXHR042: .*exceed MxhrSendBuffer \(1024\): the client is not reading; dropping it/g;
cmp_ok $why, '>=', $n, "each drop is logged at debug with the reason (MXHR042 x $why)";
# The server let go of the stuck clients' sockets: of its connections on
# our port only the readers' are still established (a socket it closed
# with data the client never took lingers in FIN_WAIT1, owned by no one).
# (The status request's own connection may still be closing: wait for
# it a moment.)
my $socks;
MxhrTest::wait_until(3, sub {
    $socks = $srv->server_sockets;
    ($socks->{ESTABLISHED} // 0) == $n;
});
is $socks->{ESTABLISHED} // 0, $n,
   "server side: only the readers' connections established ("
   . join(', ', map { "$_ $socks->{$_}" } sort keys %$socks) . ')';
# And nothing of theirs is left half-open once the clients go.
$_->close_all for @stuck;
sleep 0.5;
is $srv->close_wait, 0, 'no connection left in CLOSE_WAIT once the stuck clients close';
$readers->close_all;
