# Channel namespaces (security): a site cannot read, publish to or
# delete another site's channels.
# - a name-based virtual host without a ServerName of its own (it gets
#   the main server's) and one named like the main server: before, both
#   were "localhost:port", one namespace;
# - mass virtual hosting (mod_vhost_alias, VirtualDocumentRoot): each
#   Host its own document root, its own namespace (before: one for all);
# - MxhrNamespace "%{HTTP_HOST}": the admin's choice, per Host.
# Under the event MPM and prefork.
use strict;
use warnings FATAL => 'all';
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::INET ();
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrServer;
use MxhrChannel;

# The document roots of mod_vhost_alias's sites a and b.
my $sites = tempdir(CLEANUP => 1);
chmod 0755, $sites;
for (qw(a b)) { mkdir "$sites/$_"; chmod 0755, "$sites/$_" }

# A request with a Host of our choosing: status and "messages".
sub req {
    my ($port, $method, $host, $path, $body) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 5) or return { status => 0 };
    $body //= '';
    print $s "$method $path HTTP/1.0\r\nHost: $host\r\nContent-Type: text/plain\r\n"
           . "Content-Length: " . length($body) . "\r\n\r\n$body";
    local $/;
    my $resp = <$s> // '';
    close $s;
    my ($st) = $resp =~ m{\AHTTP/1\.\d (\d+)};
    my ($m) = $resp =~ /"messages": (\d+)/;
    return { status => $st // 0, messages => $m // 'none' };
}

for my $mpm (qw(event prefork)) {
    my $srv = MxhrServer->start(mpm => $mpm, load => ['vhost_alias'], conf => <<"CONF");
<Location /pub>
    SetHandler mxhr-publish
    MxhrChannel %{mxhr_arg:id}
</Location>
# Named like the main server (ServerName localhost).
<VirtualHost *>
    ServerName localhost
    ServerAlias named.test
</VirtualHost>
# No ServerName: it gets the main server's.
<VirtualHost *>
    ServerAlias nameless.test
</VirtualHost>
<VirtualHost *>
    ServerName mass.test
    ServerAlias *.mass.test
    VirtualDocumentRoot $sites/%1
</VirtualHost>
<VirtualHost *>
    ServerName ns.test
    ServerAlias *.ns.test
    MxhrNamespace "%{HTTP_HOST}"
</VirtualHost>
# A fixed namespace that a client-chosen one must not reach.
<VirtualHost *>
    ServerName shop.test
    MxhrNamespace "shop.ns.test"
</VirtualHost>
# One site in two blocks (say IPv4 and IPv6): one namespace.
<VirtualHost *>
    ServerName twice.test
</VirtualHost>
<VirtualHost *>
    ServerName twice.test
    ServerAlias twice-b.test
</VirtualHost>
CONF
    my $port = $srv->port;
    my $ch = uniq_name("ns$mpm");
    my $pub = "/pub?id=$ch";

    is req($port, 'POST', 'named.test', $pub, 'secret')->{messages}, 1,
       "$mpm: the named vhost publishes a message";
    is req($port, 'GET', 'nameless.test', $pub)->{status}, 404,
       "$mpm: the vhost without ServerName does not see its channel";
    is req($port, 'POST', 'nameless.test', $pub, 'intruder')->{messages}, 1,
       "$mpm: its publish makes a channel of its own (1 message, not 2)";
    is req($port, 'DELETE', 'nameless.test', $pub)->{status}, 200,
       "$mpm: ... which it may delete";
    is req($port, 'DELETE', 'nameless.test', $pub)->{status}, 404,
       "$mpm: ... and then it has no such channel";
    is req($port, 'GET', 'named.test', $pub)->{messages}, 1,
       "$mpm: the named vhost's channel is whole: its one message";

    is req($port, 'POST', 'a.mass.test', $pub, 'a1')->{messages}, 1,
       "$mpm: mass hosting: site a publishes";
    is req($port, 'GET', 'b.mass.test', $pub)->{status}, 404,
       "$mpm: site b does not see site a's channel";
    is req($port, 'POST', 'b.mass.test', $pub, 'b1')->{messages}, 1,
       "$mpm: site b's publish: a channel of its own";
    is req($port, 'GET', 'a.mass.test', $pub)->{messages}, 1, "$mpm: site a's still has 1";

    is req($port, 'POST', 'x.ns.test', $pub, 'x1')->{messages}, 1,
       "$mpm: MxhrNamespace %{HTTP_HOST}: x publishes";
    is req($port, 'GET', 'y.ns.test', $pub)->{status}, 404, "$mpm: y does not see it";
    is req($port, 'GET', 'x.ns.test', $pub)->{messages}, 1, "$mpm: x does";

    is req($port, 'POST', 'shop.test', $pub, 'secret')->{messages}, 1,
       "$mpm: a vhost with MxhrNamespace shop.ns.test publishes";
    is req($port, 'GET', 'shop.ns.test', $pub)->{status}, 404,
       "$mpm: a Host naming that namespace on the %{HTTP_HOST} vhost does not see it";

    is req($port, 'POST', 'twice.test', $pub, 't1')->{messages}, 1,
       "$mpm: one site in two blocks: the first publishes";
    is req($port, 'GET', 'twice-b.test', $pub)->{messages}, 1,
       "$mpm: the second block with the same ServerName sees it";
    $srv->stop;
    unlike $srv->error_log, qr/exit signal/, "$mpm: no child died of a signal";
}
done_testing;
