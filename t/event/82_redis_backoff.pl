# Redis mode, prefork: after Redis restarts (empty, or with its data),
# delivery comes back within about the outage's own length, not after
# MxhrRedis's longest back-off (5 s). The back-off is shared by the
# children; it once was doubled by every child that saw the same
# failure, so that ten children reached the 5 s ceiling at the first
# outage and every reader slept that long after Redis was back.
# Now one failure round doubles it once (the child whose
# compare-and-swap sets the next retry time), and the readers wait for
# that shared time.
use strict;
use warnings FATAL => 'all';
use Test::More;
use Time::HiRes qw(time sleep);
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrServer;
use MxhrChannel;
use MxhrRedis;

my $redis = MxhrRedis->start;
my $srv = MxhrServer->start(mpm => 'prefork', expect_errors => [qr/MXHR080/],
                            conf => MxhrRedis::pool('prefork')
                            . $redis->httpd_conf(heartbeat => '1s', timeout => 1));
my $port = $srv->port;
my $ch = uniq_name('backoff');
my $pub = "/pub?id=$ch";

sub publish { ch_request($port, 'POST', $pub, body => $_[0], type => 'text/plain') }

# Subscribes, publishes and waits for the message: the seconds it took,
# or undef after $secs.
sub round_trip {
    my ($body, $secs) = @_;
    my $t = time;
    my $end = $t + $secs;
    my $sub;
    while (time < $end) {
        $sub->close if $sub;
        $sub = eval { ch_subscribe($port, "/sub?id=$ch") };
        last if $sub && $sub->status == 200;
        sleep 0.02;
    }
    return undef unless $sub && $sub->status == 200;
    my $r;
    while (time < $end) {
        $r = publish($body);
        last if $r->{status} == 201 || $r->{status} == 202;
        sleep 0.02;
    }
    my $ok = $r && $r->{status} =~ /^20[12]\z/
             && $sub->wait_messages(1, $end - time > 0 ? $end - time : 0.1);
    $sub->close;
    return $ok ? time - $t : undef;
}

is publish('m0')->{status}, 202, 'a first message';
my $first = round_trip('m1', 10);
ok defined $first, 'delivered before any outage';
# Every child has connected and talked to Redis.
ch_request($port, 'GET', $pub) for 1 .. 20;

# The MXHR087 lines (LogLevel mxhr:debug) since an offset: [seconds of
# the day, ms of back-off] each.
sub backoffs {
    my $from = shift;
    my @b;
    for (split /\n/, substr($srv->error_log, $from)) {
        next unless /^\[\w+ \w+ \d+ (\d+):(\d+):(\d+(?:\.\d+)?) \d+\].*MXHR087: .* refused for (\d+) ms/;
        push @b, [ $1 * 3600 + $2 * 60 + $3, $4 ];
    }
    return @b;
}

# Down for one second (children notice at once: Redis closes their
# connections), then back with its data, or empty.
for my $how (qw(restart wipe_restart)) {
    my $off = length $srv->error_log;
    $redis->stop;
    ok wait_until(5, sub { substr($srv->error_log, $off) =~ /MXHR080/ }), "$how: the outage is seen";
    sleep 1;
    $redis->$how;
    my $took = round_trip("after $how", 15);
    ok defined $took, "$how: delivered again" or diag $srv->error_log;
    cmp_ok $took // 99, '<', 2.5,
           sprintf "$how: within 2.5 s of Redis answering again (%.2f s; the "
                   . "longest back-off is 5 s)", $took // 99;
    # The children saw one failure together: the back-off starts at
    # 100 ms and each doubling comes only once the one before ran out.
    my @b = backoffs($off);
    is $b[0][1] // 'none', 100, "$how: the first back-off: 100 ms";
    my @early = grep { $b[$_][0] - $b[$_ - 1][0] < ($b[$_ - 1][1] - 5) / 1000 } 1 .. $#b;
    is scalar(@early), 0, "$how: no back-off doubled before the last one ran out ("
                          . join(', ', map { "$_->[1] ms" } @b) . ')';
}
MxhrRedis::stop_servers($srv);
done_testing;
