# A stream request that reaches a child after a graceful restart began
# gets 503 with Retry-After (the client reconnects to the new
# generation), never a 200 with no section in it.
use strict;
use warnings FATAL => 'all';
use Test::More;
use IO::Socket::INET ();
use IO::Select ();
use Time::HiRes qw(time sleep);
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrServer;

my @mpms = qw(event worker prefork);
my $n = 5;
plan tests => 3 * @mpms;

for my $mpm (@mpms) {
    my $pool = $mpm eq 'prefork'
        ? "StartServers 8\nMinSpareServers 8\nMaxSpareServers 16\nServerLimit 16\nMaxRequestWorkers 16\n"
        : MxhrServer::event_pool(children => 2, threads => 10, limit => 4);
    $pool =~ s/^AsyncRequestWorkerFactor.*$//m if $mpm ne 'event';
    my $srv = MxhrServer->start(mpm => $mpm, conf => $pool . <<'CONF');
GracefulShutdownTimeout 10
<Location /s>
    SetHandler mxhr-stream
    MxhrBoundary b
    MxhrInterval 300ms
</Location>
CONF
    # Requests whose headers are not complete yet: a worker of the old
    # generation is reading them when the graceful restart begins.
    my @s = map {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $srv->port)
            or die "connect: $!";
        syswrite $s, "GET /s HTTP/1.1\r\nHost: x\r\n";
        $s;
    } 1 .. $n;
    sleep 0.5;
    kill 'USR1', $srv->pid;
    sleep 0.5;
    syswrite $_, "\r\n" for @s;
    my %got;
    for my $s (@s) {
        my $all = '';
        my $sel = IO::Select->new($s);
        my $end = time + 3;
        while (time < $end && $sel->can_read($end - time)) {
            my $r = sysread $s, my $buf, 65536;
            last unless $r;
            $all .= $buf;
            last if $all =~ /\r\n--b\r\n.*\r\n--b/s;   # a part has come
        }
        my ($status) = $all =~ m{^HTTP/1\.1 (\d+)};
        my $kind = !defined $status ? 'none'
                 : $status == 503 ? ($all =~ /^Retry-After: \d+\r?$/mi ? '503+retry' : '503')
                 : $status == 200 ? ($all =~ /\r\n--b\r\n.*\r\n--b/s ? '200+part' : 'empty 200')
                 : $status;
        $got{$kind}++;
        close $s;
    }
    my $summary = join ', ', map { "$_: $got{$_}" } sort keys %got;
    is $got{'empty 200'} // 0, 0, "$mpm: no empty 200 ($summary)";
    is(($got{'503+retry'} // 0) + ($got{'200+part'} // 0), $n,
       "$mpm: each answered with 503 + Retry-After or a real stream");
    unlike $srv->error_log, qr/(?:Segmentation|exit signal)/, "$mpm: no child crashed";
    $srv->stop;
}
