# A stream request that reaches a child after a graceful restart began
# gets 503 with Retry-After (the client reconnects to the new
# generation), never a 200 with no section in it.
#
# Two ways a request reaches a stopping child, under event, worker and
# prefork:
# - half-sent: the request line and a header are sent before the
#   graceful restart (a worker of the old generation is reading them),
#   the blank line that ends the headers after it;
# - keep-alive: a request on a connection the old child already served
#   one request on, sent after the restart. A stopping child may also
#   just close such an idle connection without answering (the event MPM
#   does): HTTP lets a client retry on a new one, so that is allowed
#   here, and only there.
# Before the engine (a0bd899) every one of these got an empty 200
# ("Content-Length: 0", the multipart type, no part), as a hostile
# client saw 133 times after a graceful restart, except the event MPM's
# keep-alive ones, which it closed.
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
my @ways = qw(half-sent keep-alive);
my $n = 5;
plan tests => (2 * @ways + 1) * @mpms;

sub connect_srv {
    my $srv = shift;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $srv->port)
        or die "connect: $!";
    return $s;
}

# What came on $s within 3 s: '503+retry', '200+part', 'empty 200',
# 'none' (closed with nothing), ...; and the head that came.
sub answer {
    my $s = shift;
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
    my $kind = $all eq '' ? 'none'
             : !defined $status ? 'garbage'
             : $status == 503 ? ($all =~ /^Retry-After: \d+\r?$/mi ? '503+retry' : '503')
             : $status == 200 ? ($all =~ /\r\n--b\r\n.*\r\n--b/s ? '200+part' : 'empty 200')
             : $status;
    my ($head) = split /\r\n\r\n/, $all, 2;
    return ($kind, $head // '');
}

for my $mpm (@mpms) {
    my $pool = $mpm eq 'prefork'
        ? { children => 8, min_spare => 8, max_spare => 16, limit => 16 }
        : { children => 2, threads => 10, limit => 4 };
    my $srv = MxhrServer->start(mpm => $mpm, pool => $pool,
                                expect_errors => [MxhrServer::blocking_pool_full($mpm)], conf => <<'CONF');
GracefulShutdownTimeout 10
KeepAliveTimeout 30
<Location /s>
    SetHandler mxhr-stream
    MxhrBoundary b
    MxhrInterval 300ms
</Location>
CONF
    for my $way (@ways) {
        my @s = map { connect_srv($srv) } 1 .. $n;
        if ($way eq 'half-sent') {
            syswrite $_, "GET /s HTTP/1.1\r\nHost: x\r\n" for @s;
        }
        else {
            # One request answered on each, the connection kept open.
            syswrite $_, "GET /server-status?auto HTTP/1.1\r\nHost: x\r\n\r\n" for @s;
            for my $s (@s) {
                my $got = '';
                my $sel = IO::Select->new($s);
                while ($got !~ /\r\n\r\n/ || $got =~ /Transfer-Encoding: chunked/i && $got !~ /\r\n0\r\n\r\n\z/) {
                    $sel->can_read(3) or last;
                    sysread($s, my $buf, 65536) or last;
                    $got .= $buf;
                }
                $got =~ m{^HTTP/1\.1 200} or die "$mpm: status request not answered";
            }
        }
        sleep 0.5;
        kill 'USR1', $srv->pid;
        sleep 0.5;
        syswrite $_, ($way eq 'half-sent' ? "\r\n" : "GET /s HTTP/1.1\r\nHost: x\r\n\r\n") for @s;
        my (%got, $empty_head);
        for my $s (@s) {
            my ($kind, $head) = answer($s);
            $got{$kind}++;
            $empty_head //= $head if $kind eq 'empty 200';
            close $s;
        }
        my $summary = join ', ', map { "$_: $got{$_}" } sort keys %got;
        diag "$mpm, $way: $summary";
        diag "$mpm, $way: an empty 200 was:\n$empty_head" if defined $empty_head;
        is $got{'empty 200'} // 0, 0, "$mpm, $way: no empty 200 ($summary)";
        my $fine = ($got{'503+retry'} // 0) + ($got{'200+part'} // 0)
                 + ($way eq 'keep-alive' ? $got{none} // 0 : 0);
        is $fine, $n, "$mpm, $way: each answered with 503 + Retry-After or a real stream"
                      . ($way eq 'keep-alive' ? ' (or closed unanswered)' : '');
        # The old generation is gone before the next round.
        sleep 1;
    }
    ok $srv->error_log !~ /(?:Segmentation|exit signal)/, "$mpm: no child crashed";
    $srv->stop;
}
