# Clients that stop reading are dropped after a bounded write, and do not
# hold up everyone else's sections.
use strict;
use warnings FATAL => 'all';
use Test::More;
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrServer;

plan tests => 5;

# 4 threads, Timeout 10: without a bounded write, 8 stuck clients would
# hold every thread for 10s at a time.
my $srv = MxhrServer->start(pool => { threads => 4, factor => 40 }, conf => <<'CONF');
# A fixed send buffer, so that a stuck client fills it in a moment (the
# kernel would otherwise grow it to megabytes).
SendBufferSize 16384
MxhrMinInterval 1ms
<Location /pump>
    SetHandler mxhr-stream
    MxhrBoundary b
    MxhrInterval 2ms
</Location>
<Location /tick>
    SetHandler mxhr-stream
    MxhrBoundary b
    MxhrInterval 500ms
    MxhrMaxSections 10
</Location>
CONF
my $slow = $srv->open_streams('/pump', 8, rcvbuf => 2048, noread => 1);
my $ok = $srv->open_streams('/tick', 20);
$ok->pump(7, sub { !grep { !$_->{closed} } $_[0]->conns });
my @c = $ok->conns;
is scalar(grep { $_->{closed} && @{ $_->{parts} } == 10 } @c), 20,
   'the 20 readers got all 10 sections';
my @gaps = sort { $a <=> $b } map {
    my $p = $_->{parts};
    map { $p->[$_] - $p->[$_ - 1] } 1 .. $#$p
} @c;
cmp_ok $gaps[-1], '<', 0.5 + 0.25, sprintf 'their largest gap %.3fs (interval 0.5s)', $gaps[-1];
my $st = $srv->status;
cmp_ok $st->{MxhrSlowClientsDropped} // 0, '>=', 8,
   "the 8 stuck clients were dropped ($st->{MxhrSlowClientsDropped})";
unlike $srv->error_log, qr/\[mxhr:(?:error|warn)\]/, 'quietly';
is $srv->close_wait, 0, 'and their connections closed';
$slow->close_all;
$ok->close_all;
