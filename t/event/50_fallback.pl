# Where suspending is not safe or not wanted, streams block: MxhrAsync
# off, the prefork MPM, HTTP/2 streams. The status page says which.
use strict;
use warnings FATAL => 'all';
use Test::More;
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrServer;

plan tests => 8;

my $loc = <<'CONF';
<Location /s>
    SetHandler mxhr-stream
    MxhrBoundary b
    MxhrInterval 200ms
    MxhrMaxSections 6
</Location>
CONF

sub mode_of {
    my ($srv, %o) = @_;
    my $r = $srv->open_streams('/s', 1);
    $r->pump(0.5, sub { @{ ($_[0]->conns)[0]{parts} } >= 1 });
    # The first part can reach us before the handler has counted the
    # stream (it counts it after sending): wait until it is counted.
    my $st;
    for (1 .. 20) {
        $st = $srv->status;
        last if ($st->{MxhrStreamsSuspended} // 0) + ($st->{MxhrStreamsBlocking} // 0) >= 1;
        select undef, undef, undef, 0.05;
    }
    $r->pump(3, sub { ($_[0]->conns)[0]{closed} });
    my ($c) = $r->conns;
    return ($st, $c);
}

my $srv = MxhrServer->start(conf => $loc);
my ($st, $c) = mode_of($srv);
is "$st->{MxhrStreamsSuspended}/$st->{MxhrStreamsBlocking}", '1/0', 'event: suspended';
ok $c->{closed} && @{ $c->{parts} } == 6, 'and complete';
$srv->stop;

$srv = MxhrServer->start(conf => "MxhrAsync off\n$loc");
($st, $c) = mode_of($srv);
is "$st->{MxhrStreamsSuspended}/$st->{MxhrStreamsBlocking}", '0/1', 'MxhrAsync off: blocking';
ok $c->{closed} && @{ $c->{parts} } == 6, 'and complete';
$srv->stop;

$srv = MxhrServer->start(mpm => 'prefork', conf => $loc);
($st, $c) = mode_of($srv);
is "$st->{MxhrStreamsSuspended}/$st->{MxhrStreamsBlocking}", '0/1', 'prefork: blocking';
ok $c->{closed} && @{ $c->{parts} } == 6, 'and complete';
$srv->stop;

# HTTP/2 (h2c): the stream's connection has a master; never suspended.
$srv = MxhrServer->start(conf => $loc, http2 => 1);
my $port = $srv->port;
my $pid = open my $curl, '-|',
    "curl -s --http2-prior-knowledge --max-time 5 http://127.0.0.1:$port/s";
select undef, undef, undef, 0.5;
$st = $srv->status;
my $body = do { local $/; <$curl> };
close $curl;
is "$st->{MxhrStreamsSuspended}/$st->{MxhrStreamsBlocking}", '0/1', 'HTTP/2: blocking';
my $n = () = ($body // '') =~ /Mxhr-Seq: \d+/g;
ok $n == 6 && $body =~ /\r\n--b--\r\n\z/, "and complete over HTTP/2 ($n parts)";
