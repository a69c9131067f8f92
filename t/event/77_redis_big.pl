# Redis mode: a subscription's start is bounded. A resume reads at most
# 8 MB of messages from Redis (one script call, one reply): a client
# further behind gets the newest of what it missed, up to that, and is
# told it lost history, rather than a reply that stalls Redis for every
# server. Within the bound nothing is left out and nothing is said lost.
# Under the event MPM and prefork; four messages of 3 MB on one channel.
use strict;
use warnings FATAL => 'all';
use Test::More;
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrServer;
use MxhrChannel;
use MxhrRedis;

my $MB3 = 3 * 1024 * 1024;
my $redis = MxhrRedis->start;
for my $mpm (qw(event prefork)) {
    my $srv = MxhrServer->start(mpm => $mpm, pool => MxhrRedis::pool_sizes($mpm), conf =>
        $redis->httpd_conf(heartbeat => '30s')
        . "<Location /big>\n    SetHandler mxhr-publish\n"
        . "    MxhrChannel %{mxhr_arg:id}\n    MxhrMessageMaxSize 4m\n</Location>\n");
    my $ch = uniq_name("big$mpm");
    my @ids;
    for my $i (1 .. 4) {
        my $r = ch_request($srv->port, 'POST', "/big?id=$ch",
                           body => chr(48 + $i) x $MB3, type => 'application/octet-stream');
        push @ids, $r->{json} ? $r->{json}{id} : "($r->{status})";
    }
    like $ids[3], qr/^\d+-\d+\z/, "$mpm: four messages of 3 MB published";
    my ($epoch, $first) = $ids[0] =~ /^(\d+)-(\d+)/;

    # From before the first: 12 MB missed, over the bound.
    my $far = ch_subscribe($srv->port, "/sub?id=$ch",
                           headers => { 'Last-Event-ID' => "$epoch-" . ($first - 1) });
    is $far->header('mxhr-history'), 'lost', "$mpm: a resume 12 MB behind is told lost";
    ok $far->wait_messages(2, 20), "$mpm: ... and gets the newest messages";
    $far->pump(0.5);
    is_deeply [ map { $_->{id} } $far->messages ], [ @ids[2, 3] ],
        "$mpm: ... the last two (6 MB), not three (9 MB)";
    ok !(grep { $_->{body} ne substr($_->{body}, 0, 1) x $MB3 } $far->messages),
        "$mpm: ... whole";

    # From the second: 6 MB missed, within the bound.
    my $near = ch_subscribe($srv->port, "/sub?id=$ch", headers => { 'Last-Event-ID' => $ids[1] });
    ok !defined $near->header('mxhr-history'), "$mpm: a resume 6 MB behind is not told lost";
    ok $near->wait_messages(2, 20), "$mpm: ... and gets what it missed";
    is_deeply [ map { $_->{id} } $near->messages ], [ @ids[2, 3] ], "$mpm: ... the third and fourth";
    $_->close for $far, $near;
    MxhrRedis::stop_servers($srv);
}
done_testing;
