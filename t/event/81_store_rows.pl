# A publish wakes only the children that serve its channel (issue 15,
# defect 6: a child's bit in a channel was set by its first subscriber
# and never cleared, so that after children turned over every publish
# woke every child). A subscriber in child H comes and goes; then 100
# publishes to its channel go through another child: H's threads (its
# engine's watcher waits on the store's futex word) are not woken by
# them: they switch no more than when nothing is published. Event MPM.
use strict;
use warnings FATAL => 'all';
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET ();
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrServer;
use MxhrChannel;
use MxhrTest qw(wait_until);

my $loc = <<'CONF';
<Location /sub>
    SetHandler mxhr-stream
    MxhrChannel rows
    MxhrBoundary b
    MxhrHeartbeat 0
</Location>
<Location /pub>
    SetHandler mxhr-publish
    MxhrChannel rows
</Location>
CONF

plan tests => 4;

my $N = 100;
my $srv = MxhrServer->start(mpm => 'event',
                            conf => MxhrServer::event_pool(children => 2, threads => 8) . $loc);
my $port = $srv->port;

# Context switches of all of a child's threads.
sub switches {
    my $pid = shift;
    my $n = 0;
    for my $f (glob "/proc/$pid/task/*/status") {
        open my $fh, '<', $f or next;
        while (<$fh>) { $n += $1 if /^(?:non)?voluntary_ctxt_switches:\s+(\d+)/ }
    }
    return $n;
}

# One keep-alive connection for many requests.
sub ka_request {
    my ($sock, $method, $path, $body) = @_;
    $body //= '';
    syswrite $sock, "$method $path HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    . "Content-Length: " . length($body) . "\r\n\r\n$body";
    my $raw = '';
    my $end = time + 5;
    while (time < $end) {
        my $sel = IO::Select->new($sock);
        $sel->can_read(0.5) or next;
        sysread($sock, my $buf, 65536) or do { diag "closed after: $raw" if $ENV{MXHR_DEBUG}; last };
        $raw .= $buf;
        if ($raw =~ /\A(.*?)\r\n\r\n/s) {
            my $hl = length($1) + 4;
            my ($cl) = $1 =~ /^Content-Length:\s*(\d+)/mi;
            return $raw =~ m{^HTTP/1\.1 (\d+)} ? $1 : 0
                if defined $cl && length($raw) >= $hl + $cl;
        }
    }
    diag "no answer: $raw" if $ENV{MXHR_DEBUG};
    return 0;
}

# A subscriber in child H, and one message kept in the channel.
my $s = ch_subscribe($port, '/sub');
my ($h) = holders($srv, $s);
ok $h && wait_subscribers($port, '/pub', 1, 5), "a subscriber in child $h";
ch_request($port, 'POST', '/pub', body => 'kept');
$s->wait_messages(1, 5);
$s->close;
ok wait_subscribers($port, '/pub', 0, 5), 'it left: the channel counts nobody';

# A connection to the other child.
my $ka;
for (1 .. 50) {
    $ka = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port) or next;
    ka_request($ka, 'GET', '/pub');
    my ($w) = holders($srv, { sock => $ka });
    if ($w && $w != $h) { last }
    close $ka;
    undef $ka;
    sleep 0.05;
}
ok $ka, 'a keep-alive connection to the other child';

SKIP: {
    skip 'no connection to the other child', 1 unless $ka;
    # H's switches while nothing is published, then while N are, at
    # the same pace.
    my $pace = 0.01;
    my $a0 = switches($h);
    my $t0 = time;
    sleep $N * $pace;
    my $idle_rate = (switches($h) - $a0) / (time - $t0);
    my $ok = 0;
    my $b0 = switches($h);
    $t0 = time;
    for my $i (1 .. $N) {
        $ok++ if ka_request($ka, 'POST', '/pub', "m$i") =~ /^20[12]$/;
        sleep $pace;
    }
    my $pub = switches($h) - $b0;
    # What H does anyway (timers), over as long as the publishes took.
    my $base = int($idle_rate * (time - $t0) + 0.5);
    ok $ok > 0 && $pub - $base < $N / 3,
       "$ok publishes woke child $h (without subscribers) $pub times, $base without them"
        or diag "switches: $pub while publishing, $base idle";
}
close $ka if $ka;
$srv->stop;
