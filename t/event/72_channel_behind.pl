# Channels: a subscriber that does not read while 40 messages of 60 KB
# go through a store of 1 MB (MxhrStoreSize 1m, MxhrChannelHistory 3)
# falls behind what is kept (on the engine: has more than MxhrSendBuffer
# waiting). It is ended; what it got before is exact
# and without a gap (never a message skipped, never bytes of another
# message that took the place in the store); reconnecting with its last
# id says "Mxhr-History: lost" and starts at the oldest kept. A reader
# beside it gets all 40. Under event, worker and prefork.
use strict;
use warnings FATAL => 'all';
use Test::More;
use Time::HiRes qw(time sleep);
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrServer;
use MxhrChannel;

my $loc = <<'CONF';
MxhrStoreSize 1m
SendBufferSize 8192
# The engine may hold a few messages for a client (then it is dropped).
MxhrSendBuffer 1m
<Location /sub>
    SetHandler mxhr-stream
    MxhrChannel slow
    MxhrBoundary b
    MxhrHeartbeat 0
</Location>
<Location /pub>
    SetHandler mxhr-publish
    MxhrChannel slow
    MxhrChannelHistory 3
</Location>
CONF

my @cases = (
    ['event', { children => 1, threads => 10 }],
    ['worker', { children => 1, threads => 10, min_spare => 1 }],
    ['prefork', { children => 4, min_spare => 2, max_spare => 10, limit => 10 }],
);
plan tests => 10 * @cases;

my $N = 40;
my @body = map { sprintf('m%02d:', $_) x 15000 } 0 .. $N;   # 60,000 bytes each

for my $case (@cases) {
    my ($mpm, $pool) = @$case;
    my $srv = MxhrServer->start(mpm => $mpm, pool => $pool, conf => $loc,
                                expect_errors => [MxhrServer::blocking_pool_full($mpm)]);
    my $port = $srv->port;
    my $fast = ch_subscribe($port, '/sub');
    my $slow = ch_subscribe($port, '/sub', rcvbuf => 4096);
    ok wait_subscribers($port, '/pub', 2), "$mpm: a reader and one that does not read";

    my (@ids, %body_of);
    for my $i (1 .. $N) {
        my $r = ch_request($port, 'POST', '/pub', body => $body[$i], type => 'text/plain');
        my $id = $r->{json} && $r->{json}{id} // "none-$i";
        push @ids, $id;
        $body_of{$id} = $body[$i];
        $fast->pump(3, sub { $_[0]->messages >= $i });
        # The slow one reads once, after the 10th: on the engine it has
        # them all then (it is dropped later, for not reading, by
        # MxhrSendBuffer); a blocking stream is behind already by then.
        $slow->pump(3, sub { $_[0]->messages >= 10 || $_[0]->eof }) if $i == 10;
    }
    my @f = $fast->messages;
    is scalar(grep { ($body_of{ $_->{id} // '' } // '') eq $_->{body} } @f), $N,
       "$mpm: the reader got all $N, exact";

    # Now it reads: what it gets, then its end.
    my $t0 = time;
    $slow->pump(15);
    ok $slow->eof, sprintf "$mpm: the one that fell behind was ended (%.1fs after it began to read)",
                           time - $t0;
    my @s = $slow->messages;
    my $k = @s;
    ok $k >= 1 && $k < $N - 3, "$mpm: it had fallen behind the 3 kept ($k of $N before its end)";
    is scalar(grep { ($body_of{ $_->{id} // '' } // '') eq $_->{body} } @s), $k,
       "$mpm: each of the $k it got is exact (no bytes of later messages)";
    is_deeply [ map { $_->{id} } @s ], [ @ids[0 .. $k - 1] ], "$mpm: and they are the first $k, no gap";
    ok !defined $slow->{wire_error}, "$mpm: well-formed up to its end"
        . (defined $slow->{wire_error} ? " ($slow->{wire_error})" : '');
    $slow->close;
    $fast->close;

    my $again = ch_subscribe($port, '/sub',
                             headers => { 'Last-Event-ID' => $k ? $s[-1]{id} : $ids[0] });
    is $again->header('mxhr-history'), 'lost', "$mpm: reconnecting with its last id: Mxhr-History: lost";
    # The oldest kept: as many as the channel keeps, the newest last.
    my $kept = (ch_request($port, 'GET', '/pub')->{json} || {})->{messages} // 0;
    $again->wait_messages($kept, 3);
    $again->pump(0.3);
    ok $kept >= 3 && $kept < $N, "$mpm: the channel keeps $kept of $N";
    is_deeply [ map { $_->{id} } $again->messages ], [ @ids[$N - $kept .. $N - 1] ],
              "$mpm: starting at the oldest kept (the last $kept)";
    $again->close;
    $srv->stop;
}
