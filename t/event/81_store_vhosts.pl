# Virtual hosts in the channel store (issue 15, defect 12): the store
# has rows for 1024 of them; a row was never freed, so the 1,025th vhost
# got 507 forever, with a message that blamed MxhrMaxChannels. Now a
# vhost's row goes with its last channel: 1024 vhosts publish, the
# 1,025th gets 507 and MXHR057 says why; one vhost's channel is deleted,
# and the 1,025th can publish. Event MPM.
use strict;
use warnings FATAL => 'all';
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET ();
use IO::Select ();
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrServer;

my $V = 1025;
my $conf = MxhrServer::event_pool(children => 1, threads => 8) . <<'CONF';
<Location /pub>
    SetHandler mxhr-publish
    MxhrChannel one
</Location>
CONF
$conf .= join '', map { "<VirtualHost *>\n    ServerName v$_.test\n</VirtualHost>\n" } 1 .. $V;

plan tests => 5;

my $srv = MxhrServer->start(mpm => 'event', conf => $conf,
                            expect_errors => [qr/MXHR057/]);
my $port = $srv->port;

# One request to vhost $host; its status.
sub request {
    my ($host, $method) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port)
        or return 0;
    my $body = $method eq 'POST' ? 'x' : '';
    syswrite $s, "$method /pub HTTP/1.1\r\nHost: $host\r\nConnection: close\r\n"
                 . "Content-Length: " . length($body) . "\r\n\r\n$body";
    my $raw = '';
    my $sel = IO::Select->new($s);
    my $end = time + 10;
    while (time < $end && $sel->can_read($end - time)) {
        sysread($s, my $buf, 65536) or last;
        $raw .= $buf;
    }
    close $s;
    return $raw =~ m{\AHTTP/1\.1 (\d+)} ? $1 : 0;
}

my $ok = 0;
for my $i (1 .. $V - 1) {
    $ok++ if request("v$i.test", 'POST') =~ /^20[12]$/;
}
is $ok, $V - 1, "a channel in each of " . ($V - 1) . " vhosts";
is request("v$V.test", 'POST'), 507, "vhost $V: 507, no room for another vhost";
ok scalar($srv->error_log =~ /MXHR057: .*v$V\.test/), 'MXHR057 says the store has no room for another vhost';
is request('v1.test', 'DELETE'), 200, 'vhost 1 deletes its only channel';
like request("v$V.test", 'POST'), qr/^20[12]$/, "vhost $V can publish now";
$srv->stop;
