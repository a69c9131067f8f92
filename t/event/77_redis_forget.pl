# Redis mode: a channel's record in Redis (mxhr:m:*) does not stay
# forever. An hour after its history expired it is forgotten by the
# next publish (a few at a time), its last id folded into one
# watermark (mxhr:forgotten); a resume on a forgotten channel, or on a
# channel made again under its name, is checked against that watermark:
# it is told it lost history, never left with a silent gap.
# (The hour is made to pass by moving the record's date in mxhr:metas.)
use strict;
use warnings FATAL => 'all';
use Test::More;
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrServer;
use MxhrChannel;
use MxhrRedis;

my $redis = MxhrRedis->start;
my $srv = MxhrServer->start(mpm => 'event', pool => MxhrRedis::pool_sizes('event'), conf =>
                            $redis->httpd_conf(heartbeat => '30s'));
my $port = $srv->port;
my ($old, $other) = (uniq_name('old'), uniq_name('other'));
sub publish {
    my ($ch, $body) = @_;
    my $r = ch_request($port, 'POST', "/pub?id=$ch", body => $body, type => 'text/plain');
    return $r->{json} ? $r->{json}{id} : "($r->{status})";
}

my $id1 = publish($old, 'o1');
my $id2 = publish($old, 'o2');
my ($meta) = grep { /:\Q$old\E\z/ } $redis->cli('KEYS', 'mxhr:m:*');
ok $meta, 'the channel has a record in Redis';
ok(($redis->cli('ZSCORE', 'mxhr:metas', $meta) || 0) > 0, '... with a date to be forgotten');

# An hour after its history: the history has expired (its key's own
# expiry), and the record's date is past.
(my $hist = $meta) =~ s/^mxhr:m:/mxhr:s:/;
is $redis->cli('DEL', $hist), '1', 'its history expires';
$redis->cli('ZADD', 'mxhr:metas', 1, $meta);
publish($other, 'x');
is $redis->cli('EXISTS', $meta), '0', 'the next publish forgot it';
my ($seq2) = $id2 =~ /-(\d+)\z/;
is $redis->cli('GET', 'mxhr:forgotten'), $seq2, '... its last id is the watermark';

my $s = ch_subscribe($port, "/sub?id=$old", headers => { 'Last-Event-ID' => $id1 });
is $s->header('mxhr-history'), 'lost', 'a resume from before its last message is told lost';
$s->close;
my $id3 = publish($old, 'o3');
$s = ch_subscribe($port, "/sub?id=$old", headers => { 'Last-Event-ID' => $id1 });
is $s->header('mxhr-history'), 'lost', 'so it is once the channel is made again';
ok $s->wait_messages(1, 5), '... and gets what is kept';
is join(' ', map { $_->{body} } $s->messages), 'o3', '... o3';
$s->close;
$s = ch_subscribe($port, "/sub?id=$old", headers => { 'Last-Event-ID' => $id2 });
ok !defined $s->header('mxhr-history'), 'a resume from its last message is not told lost';
ok $s->wait_messages(1, 5), '... and gets o3';
$s->close;
MxhrRedis::stop_servers($srv);
done_testing;
