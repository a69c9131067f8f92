# Streams do not need a free MPM worker: with every worker thread held by
# connections trickling their request headers (slowloris), sections still
# go out on schedule.
use strict;
use warnings FATAL => 'all';
use Test::More;
use IO::Socket::INET ();
use IO::Select ();
use Time::HiRes qw(time sleep);
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrServer;

plan tests => 5;

# 4 children x 25 threads; no mod_reqtimeout, and each byte restarts the
# 10 s Timeout: the trickling connections hold their workers.
my $srv = MxhrServer->start(conf => MxhrServer::event_pool(children => 4, threads => 25, factor => 40) . <<'CONF');
<Location /s>
    SetHandler mxhr-stream
    MxhrBoundary b
    MxhrInterval 200ms
</Location>
CONF
my $r = $srv->open_streams('/s', 50);
$r->pump(1);
is scalar(grep { @{ $_->{parts} } >= 3 } $r->conns), 50, '50 streams running';

my @slow;
for (1 .. 200) {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $srv->port)
        or last;
    syswrite $s, "GET /x HTTP/1.1\r\n";
    push @slow, $s;
}
is scalar(@slow), 200, '200 slowloris connections';
# They hold every worker: a status request is not answered.
$r->pump(1);
my $busy = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $srv->port);
syswrite $busy, "GET /server-status?auto HTTP/1.0\r\n\r\n";
# Measure from here on (the status request above took no time).
$r->pump(0.3);
my %before = map { $_->{id} => scalar @{ $_->{parts} } } $r->conns;
my $t0 = time;
my $i = 0;
while (time - $t0 < 5) {
    syswrite $_, 'X' for @slow;   # one header byte a second
    $r->pump(1);
}
# A stream that stalled for good counts its wait up to now as a gap.
my $t_end = time;
my @gaps = sort { $a <=> $b } map {
    my $p = $_->{parts};
    ((map { $p->[$_] - $p->[$_ - 1] } ($before{$_->{id}} || 1) .. $#$p),
     $t_end - $p->[-1])
} $r->conns;
my $answered = IO::Select->new($busy)->can_read(0) && sysread($busy, my $buf, 100);
ok !$answered, 'no worker was free for a status request meanwhile';
cmp_ok scalar(@gaps), '>=', 50 * 20, 'sections kept coming';
cmp_ok $gaps[-1] // 99, '<=', 0.3, sprintf "streams' largest gap %.3fs while every worker is busy (interval 0.2s)", $gaps[-1] // 99;
close $_ for @slow;
$r->close_all;
