# MxhrHistoryCeiling: what a .htaccess asks of MxhrChannelHistory and
# MxhrChannelHistoryTime is lowered to the server's ceiling (default
# 1000 messages, 1h), with a log line (MXHR140) naming the file, the
# line and the ceiling; the admin's own <Location> is not capped.
# Before, a customer's .htaccess could keep 100000 messages for a day
# and push every other site's history out of the shared store.
# Under the event MPM and prefork.
use strict;
use warnings FATAL => 'all';
use Test::More;
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrServer;
use MxhrChannel;
use IO::Socket::INET ();

sub write_file {
    my ($path, $text) = @_;
    open my $fh, '>', $path or die "$path: $!";
    print $fh $text;
    close $fh;
    chmod 0644, $path;
}

# A POST with a Host of our choosing: its status and "messages".
sub raw_post {
    my ($port, $host, $path, $body) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 5) or return { status => 0 };
    print $s "POST $path HTTP/1.0\r\nHost: $host\r\nContent-Type: text/plain\r\n"
           . "Content-Length: " . length($body) . "\r\n\r\n$body";
    local $/;
    my $resp = <$s> // '';
    close $s;
    my ($st) = $resp =~ m{\AHTTP/1\.\d (\d+)};
    my ($m) = $resp =~ /"messages": (\d+)/;
    return { status => $st // 0, messages => $m };
}

for my $mpm (qw(event prefork)) {
    my $srv = MxhrServer->start(mpm => $mpm, conf => <<'CONF');
# ch_request's Host is 127.0.0.1:port: the capped one. The first
# virtual host answers every other name (raw_post's).
<VirtualHost *>
    ServerName other.test
</VirtualHost>
<VirtualHost *>
    ServerName 127.0.0.1
    MxhrHistoryCeiling 5 2s
</VirtualHost>
# (Only ht/ has a .htaccess.)
<Directory />
    AllowOverride FileInfo
</Directory>
<Location /admin>
    SetHandler mxhr-publish
    MxhrChannel %{mxhr_arg:id}
    MxhrChannelHistory 7
</Location>
CONF
    my $dir = $srv->dir;
    mkdir "$dir/ht";
    chmod 0755, "$dir/ht";
    write_file("$dir/ht/.htaccess", <<'HT');
# A customer asking for more than the server allows.
SetHandler mxhr-publish
MxhrChannel %{mxhr_arg:id}
MxhrChannelHistory 100000
MxhrChannelHistoryTime 24h
HT
    my $port = $srv->port;
    my $ch = uniq_name("ceil$mpm");
    my $r;
    for my $i (1 .. 8) {
        $r = ch_request($port, 'POST', "/ht/x?id=$ch", body => "m$i", type => 'text/plain');
    }
    is $r->{status}, 202, "$mpm: publishes through the .htaccess" or diag $r->{body} . $srv->error_log;
    is $r->{json} && $r->{json}{messages}, 5, "$mpm: .htaccess MxhrChannelHistory 100000 kept 5 (the ceiling)";
    like $srv->error_log, qr/MXHR140: \S+\/ht\/\.htaccess line 4: MxhrChannelHistory 100000 is above this server's MxhrHistoryCeiling: lowered to 5 messages/,
         "$mpm: MXHR140 says where, what and to what";
    ok wait_until(10, sub {
        my $g = ch_request($port, 'GET', "/ht/x?id=$ch");
        $g->{status} == 404 || ($g->{json} && $g->{json}{messages} == 0);
    }), "$mpm: .htaccess MxhrChannelHistoryTime 24h kept them about 2 s (the ceiling)";

    # The admin's <Location> in the same virtual host: not capped.
    my $ach = uniq_name("admin$mpm");
    for my $i (1 .. 8) {
        $r = ch_request($port, 'POST', "/admin?id=$ach", body => "a$i", type => 'text/plain');
    }
    is $r->{json} && $r->{json}{messages}, 7, "$mpm: the admin's MxhrChannelHistory 7 is not capped";

    # A virtual host without MxhrHistoryCeiling: the default, 1000.
    my $dch = uniq_name("dflt$mpm");
    my $n = 0;
    for my $i (1 .. 1003) {
        $r = raw_post($port, 'other.test', "/ht/x?id=$dch", "d$i");
        $n++ if $r->{status} == 201 || $r->{status} == 202;
    }
    is $n, 1003, "$mpm: 1003 publishes in the other virtual host";
    is $r->{messages}, 1000, "$mpm: ... keep 1000 (the default ceiling)";
    $srv->stop;
    unlike $srv->error_log, qr/exit signal/, "$mpm: no child died of a signal";
}
done_testing;
