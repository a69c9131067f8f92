# Clients that stop reading hold nobody up: the engine never blocks on a
# client; what one has not taken waits in its bounded send buffer, and
# a client over it is dropped (counted, closed, logged at debug).
use strict;
use warnings FATAL => 'all';
use Test::More;
use Time::HiRes qw(time sleep);
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrServer;

plan tests => 7;

# Few threads and long Timeout: a blocking write to a stuck client would
# hold everything up for seconds. Small kernel buffers (SendBufferSize,
# the clients' SO_RCVBUF) so the stuck clients fill theirs in a few
# sections.
my $pad = 'x' x 180;
my $type = 'text/plain; x-pad=' . ('p' x 200);
my $srv = MxhrServer->start(conf => MxhrServer::event_pool(threads => 4, factor => 40) . <<"CONF");
SendBufferSize 512
MxhrSendBuffer 1k
<Location /s>
    SetHandler mxhr-stream
    MxhrBoundary b
    MxhrInterval 1s
    MxhrTimeFormat "%H:%M:%S.%L $pad"
    MxhrContentType "$type"
</Location>
CONF
# Interleaved, so stuck and reading streams share the engine's wake-ups.
my (@stuck, @ok);
for (1 .. 20) {
    push @stuck, $srv->open_streams('/s', 1, rcvbuf => 256, noread => 1);
    push @ok, $srv->open_streams('/s', 1);
}
my $t0 = time;
my $dropped = 0;
my $readers = MxhrServer::Reader->merge(@ok);
while (time - $t0 < 20) {
    $readers->pump(0.5);
    $dropped = $srv->status(1)->{MxhrSlowClientsDropped} // 0;
    last if $dropped >= 20;
}
my $took = time - $t0;
cmp_ok $dropped, '>=', 20, sprintf 'the 20 stuck clients were dropped (%d, in %.1fs)', $dropped, $took;
$readers->pump(2.2);
my @c = $readers->conns;
my @gaps = sort { $a <=> $b } map {
    my $p = $_->{parts};
    map { $p->[$_] - $p->[$_ - 1] } 1 .. $#$p
} @c;
cmp_ok scalar(@gaps), '>=', 20 * int($took), 'the readers got their sections meanwhile';
cmp_ok $gaps[-1], '<=', 1.1, sprintf "readers' largest gap %.3fs (interval 1s)", $gaps[-1];
is scalar(grep { !$_->{eof} } @c), 20, 'no reader was dropped';
my $st = $srv->status;
is $st->{MxhrStreamsOpen}, 20, 'only the readers are open';
like $srv->error_log, qr/MXHR042: .*exceed MxhrSendBuffer \(1024\): the client is not reading; dropping it/,
     'the drop is logged at debug with the reason';
is $srv->close_wait, 0, 'the stuck clients\' connections are closed';
$_->close_all for @stuck, $readers;
