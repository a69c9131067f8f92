# Channels across child processes: under event, worker and prefork,
# subscribers are opened until at least two different children hold
# them (each connection's server-side socket is found in a child's
# /proc/PID/fd), then one publish reaches every one of them with the
# same bytes; the counts (JSON, mod_status) are those of all children.
use strict;
use warnings FATAL => 'all';
use Test::More;
use Time::HiRes qw(time sleep);
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrServer;
use MxhrChannel;

my $loc = <<'CONF';
<Location /sub>
    SetHandler mxhr-stream
    MxhrChannel fan
    MxhrBoundary b
</Location>
<Location /pub>
    SetHandler mxhr-publish
    MxhrChannel fan
</Location>
CONF

# MPM, pool, most subscribers to open. Under event the kernel picks the
# child of each connection (two listener buckets: ListenCoresBucketsRatio
# 1 on two or more cores); under worker and prefork a subscriber holds a
# thread or a process, so the second child comes at the latest when the
# first is full.
my @cases = (
    ['event', { children => 2, threads => 10, buckets => 1 }, 60],
    ['worker', { children => 2, threads => 10 }, 14],
    ['prefork', { children => 6, min_spare => 4, max_spare => 16, limit => 16 }, 10],
);
plan tests => 12 * @cases;

for my $case (@cases) {
    my ($mpm, $pool, $max) = @$case;
    my $srv = MxhrServer->start(mpm => $mpm, pool => $pool, conf => $loc,
                                expect_errors => [MxhrServer::blocking_pool_full($mpm)]);
    my $port = $srv->port;
    my (@subs, @pids, %by);
    # Four at a time, alternately HTTP/1.1 (chunked) and HTTP/1.0.
    while (@subs < $max) {
        for (1 .. 4) {
            push @subs, ch_subscribe($port, '/sub', proto => @subs % 2 ? '1.0' : '1.1');
        }
        ch_pump_all(\@subs, 0.1);
        @pids = holders($srv, @subs);
        %by = ();
        $by{$_}++ for grep { $_ } @pids;
        last if keys %by >= 2;
    }
    my $n = @subs;
    is scalar(grep { $_->status == 200 } @subs), $n, "$mpm: $n subscribers";
    is scalar(grep { $_ } @pids), $n, "$mpm: each held by a child of ours";
    cmp_ok scalar(keys %by), '>=', 2, "$mpm: in different children: "
        . join(', ', map { "$_ holds $by{$_}" } sort keys %by);
    my $w = wait_subscribers($port, '/pub', $n, 5);
    is $w && $w->{subscribers}, $n, "$mpm: the channel counts all $n, whatever child holds them";

    my $body = "fan-out\r\n" . join('', map { chr } 0 .. 255);
    my $r = ch_request($port, 'POST', '/pub', body => $body, type => 'application/x-fan');
    is $r->{status}, 201, "$mpm: published: 201";
    is $r->{json} && $r->{json}{subscribers}, $n, "$mpm: JSON subscribers $n";
    ch_pump_all(\@subs, 3, sub { !grep { $_->messages < 1 } @subs });
    my @got = grep { my ($m) = $_->messages; $m && $m->{body} eq $body } @subs;
    is scalar(@got), $n, "$mpm: every subscriber got the message, byte for byte";
    my %bytes;
    $bytes{ $_->body }++ for @subs;
    is scalar(keys %bytes), 1, "$mpm: identical bytes in every stream (HTTP/1.0 and dechunked HTTP/1.1)";
    my %pid_got;
    $pid_got{ $pids[$_] }++ for grep { my ($m) = $subs[$_]->messages; $m && $m->{body} eq $body } 0 .. $#subs;
    is scalar(keys %pid_got), scalar(keys %by), "$mpm: in every child that holds subscribers";

    # A second one, then the counters of all children.
    $r = ch_request($port, 'POST', '/pub', body => 'second', type => 'text/plain');
    ch_pump_all(\@subs, 3, sub { !grep { $_->messages < 2 } @subs });
    is scalar(grep { join(',', map { $_->{body} } $_->messages) eq "$body,second" } @subs), $n,
       "$mpm: and the next, in order";
    my $st = status_auto($port);
    is(($st->{MxhrSubscribers} // -1) . '/' . ($st->{MxhrPartsDelivered} // -1),
       "$n/" . 2 * $n, "$mpm: mod_status: MxhrSubscribers $n, MxhrPartsDelivered " . 2 * $n);
    $_->close for @subs;
    unlike $srv->error_log, qr/Segmentation|exit signal|\[core:(?:crit|emerg)\]/,
           "$mpm: no child crashed";
    $srv->stop;
}
