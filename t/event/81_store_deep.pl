# A publish costs the same whatever the channel's history holds (issue
# 15, defect 15: each publish walked the channel's whole history under
# the store's lock, once per subscriber's fetch, so that a channel
# keeping 100,000 messages slowed every publish of the store). Channel
# deep keeps 100,000 messages, channel shallow 10; each has a live
# subscriber. 300 publishes to deep cost the server no more CPU time
# than 300 to shallow, give or take (CPU time, not delays: the box may
# be loaded). Event MPM.
use strict;
use warnings FATAL => 'all';
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET ();
use IO::Select ();
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrServer;
use MxhrChannel;

my $loc = <<'CONF';
<Location /sub>
    SetHandler mxhr-stream
    MxhrChannel %{mxhr_arg:id}
    MxhrBoundary b
    MxhrHeartbeat 0
</Location>
<Location /pub>
    SetHandler mxhr-publish
    MxhrChannel %{mxhr_arg:id}
    MxhrChannelHistory 100000
</Location>
CONF

plan tests => 4;

my ($DEEP, $N) = (100_000, 300);
my $srv = MxhrServer->start(mpm => 'event', expect_errors => [MxhrServer::pool_full()],
                            conf => MxhrServer::event_pool(children => 1, threads => 8) . $loc);
my $port = $srv->port;

# Server CPU time so far (clock ticks, all children).
sub cpu {
    my $n = 0;
    for my $pid ($srv->children) {
        open my $fh, '<', "/proc/$pid/stat" or next;
        my $line = <$fh> // next;
        $line =~ s/^.*\) //;
        my @f = split ' ', $line;
        $n += $f[11] + $f[12];
    }
    return $n;
}

# Publishes @bodies to channel $id, 100 per keep-alive connection (the
# default MaxKeepAliveRequests), $batch requests written at once
# (pipelined); the number answered 201/202.
sub publish {
    my ($id, $batch, @bodies) = @_;
    my $ok = 0;
    while (@bodies) {
        my @conn = splice @bodies, 0, 100;
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port)
            or return $ok;
        my $sel = IO::Select->new($s);
        my $raw = '';
        while (@conn) {
            my @b = splice @conn, 0, $batch;
            my $req = join '', map {
                "POST /pub?id=$id HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: "
                . length($_) . "\r\n\r\n$_"
            } @b;
            MxhrChannel::_write_all($s, $req) or return $ok;
            my ($seen, $end) = (0, time + 30);
            while ($seen < @b && time < $end) {
                while ($raw =~ s{\AHTTP/1\.1 (\d+)[^\r\n]*\r\n(.*?)\r\n\r\n}{}s) {
                    my ($st, $h) = ($1, $2);
                    my ($cl) = $h =~ /^Content-Length:\s*(\d+)/mi;
                    substr $raw, 0, $cl // 0, '';
                    $ok++ if $st =~ /^20[12]$/;
                    $seen++;
                }
                last if $seen >= @b;
                $sel->can_read(1) or next;
                sysread($s, my $buf, 262144) or last;
                $raw .= $buf;
            }
            return $ok if $seen < @b;
        }
        close $s;
    }
    return $ok;
}

is publish('deep', 100, map { "d$_" } 1 .. $DEEP), $DEEP, "channel deep keeps $DEEP messages";
publish('shallow', 10, map { "s$_" } 1 .. 10);
my $deep = ch_subscribe($port, '/sub?id=deep');
my $shallow = ch_subscribe($port, '/sub?id=shallow');
ok wait_subscribers($port, '/pub?id=deep', 1, 5) && wait_subscribers($port, '/pub?id=shallow', 1, 5),
   'a live subscriber in each';

# One at a time, as publishers do: each wakes the subscriber's fetch.
my @bodies = map { "n$_" } 1 .. $N;
my $c0 = cpu();
my $ok = publish('shallow', 1, @bodies);
my $c1 = cpu();
$ok += publish('deep', 1, @bodies);
my $c2 = cpu();
ch_pump_all([$deep, $shallow], 10, sub { $deep->messages >= $N && $shallow->messages >= $N });
is $deep->messages + $shallow->messages, 2 * $N, "both subscribers got their $N ($ok answered)";
my ($s, $d) = ($c1 - $c0, $c2 - $c1);
ok $d <= 2 * $s + 20, "$N publishes to deep cost ${d} ticks of CPU, to shallow ${s}"
    or diag "deep: $d ticks, shallow: $s ticks";
$_->close for $deep, $shallow;
$srv->stop;
