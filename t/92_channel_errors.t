# Channels: what is refused, and that nothing is stored then.
#   400 for bad channel ids (publish and subscribe), several channels on
#       a publisher, more than 16 on a subscriber;
#   413 over MxhrMessageMaxSize: by Content-Length up front, by length,
#       chunked;
#   507 for a message bigger than the store (MxhrStoreSize 4m), and for
#       a new channel beyond MxhrMaxChannels (503 for a subscriber).
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use MxhrTest qw(server_port);
use MxhrChannel;

plan tests => 64;

my $port = server_port();
my $base = uniq_name('err');

# Bad ids, as the query argument (URL-encoded) of publisher and subscriber.
my @bad = (
    ['256 bytes', 'a' x 256, qr/255|long/i],
    ['a space (%20)', "$base%20x", qr/space/i],
    ['a control character (%01)', "$base%01x", qr/control/i],
    ['DEL (%7F)', "$base%7Fx", qr/control|DEL|0x7f/i],
    ['empty', '', qr/empty|missing|1\.\.255|length|at least/i],
);
my $r;
for my $b (@bad) {
    my ($what, $arg, $why) = @$b;
    $r = ch_request($port, 'POST', "/ch/pub?id=$arg", body => 'x');
    is $r->{status}, 400, "publish to an id with $what: 400";
    like $r->{body}, $why, "publish, $what: the body says what is wrong";
    $r = ch_request($port, 'GET', "/ch/sub?id=$arg");
    is $r->{status}, 400, "subscribe to an id with $what: 400";
    like $r->{body}, $why, "subscribe, $what: the body says what is wrong";
}
my $ok255 = substr($base . ('b' x 255), 0, 255);
$r = ch_request($port, 'POST', "/ch/pub?id=$ok255", body => 'x');
is $r->{status}, 202, '255 bytes is a good id';
is $r->{json} && $r->{json}{channel}, $ok255, 'and is the channel';

# What JSON must escape, and bytes beyond ASCII, are good in an id.
my $odd = "$base-q\"b\\s/\x{c3}\x{a9}";
(my $odd_q = $odd) =~ s/([^A-Za-z0-9_.~-])/sprintf '%%%02X', ord $1/ge;
my $s = ch_subscribe($port, "/ch/sub?id=$odd_q");
ok wait_subscribers($port, "/ch/pub?id=$odd_q", 1), 'an id with a quote, a backslash, a slash and UTF-8';
$r = ch_request($port, 'POST', "/ch/pub?id=$odd_q", body => 'odd');
is $r->{status}, 201, 'published to it';
ok $r->{json}, 'the JSON answer parses' or diag $r->{body};
is $r->{json} && $r->{json}{channel}, "$base-q\"b\\s/\x{e9}", 'and names the channel exactly';
ok $s->wait_messages(1, 3) && ($s->messages)[0]{channel} eq $odd,
   'Mxhr-Channel carries its bytes';
$s->close;

# Commas: one channel per publisher, at most 16 per subscriber.
$r = ch_request($port, 'POST', "/ch/pub?id=$base-a,$base-b", body => 'x');
is $r->{status}, 400, 'publish to two channels: 400';
is ch_request($port, 'GET', "/ch/pub?id=$base-a")->{status}, 404, 'and nothing stored';
my @n17 = map { "$base-m$_" } 1 .. 17;
$s = ch_subscribe($port, '/ch/sub?id=' . join(',', @n17));
is $s->status, 400, 'subscribe to 17 channels: 400';
$s->close;
$s = ch_subscribe($port, '/ch/sub?id=' . join(',', @n17[0 .. 15]));
is $s->status, 200, 'subscribe to 16 channels: 200';
$r = ch_request($port, 'POST', "/ch/pub?id=$n17[15]", body => 'to the 16th');
is $r->{status}, 201, 'the 16th channel has a subscriber';
ok $s->wait_messages(1, 3) && ($s->messages)[0]{channel} eq $n17[15],
   'which gets the message, Mxhr-Channel naming the 16th';
$s->close;
$s = ch_subscribe($port, "/ch/sub?id=$base-s1%20,%20$base-s2");
is $s->status, 200, 'spaces around a comma are ignored';
$r = ch_request($port, 'POST', "/ch/pub?id=$base-s2", body => 'to s2');
is $r->{status}, 201, 'the second of "a , b" is subscribed';
ok $s->wait_messages(1, 3) && ($s->messages)[0]{channel} eq "$base-s2",
   'and gets its message';
$s->close;
$s = ch_subscribe($port, "/ch/sub?id=$base-c1,,$base-c2");
is $s->status, 400, 'an empty id between commas: 400';
$s->close;

# 413: MxhrMessageMaxSize 1k.
my $ch = "$base-max";
my $pub = "/ch/pub-1k?id=$ch";
$r = ch_request($port, 'POST', $pub, body => 'k' x 1024);
is $r->{status}, 202, '1024 bytes at MxhrMessageMaxSize 1k: accepted';
my $kept = $r->{json} && $r->{json}{id};
$r = ch_request($port, 'POST', $pub, body => 'k' x 1025);
is $r->{status}, 413, '1025 bytes: 413';
$r = ch_request($port, 'POST', $pub, length => 2000, expect => 1);
is $r->{status}, 413, 'Content-Length 2000 with Expect: 100-continue: 413';
ok !$r->{continue}, 'up front: no 100 Continue, the body never sent';
$r = ch_request($port, 'POST', $pub, chunks => [('c' x 600) x 3]);
is $r->{status}, 413, 'chunked, 1800 bytes in 3 chunks: 413';
$r = ch_request($port, 'PUT', $pub, chunks => [('c' x 600) x 3], expect => 1);
is $r->{status}, 413, 'chunked PUT with Expect, 1800 bytes: 413';
$r = ch_request($port, 'GET', "/ch/pub?id=$ch");
is $r->{json} && $r->{json}{messages}, 1, 'nothing more stored: 1 message';
is $r->{json} && $r->{json}{last_message_id}, $kept, 'the last is the accepted one';
$s = ch_subscribe($port, "/ch/sub-replay?id=$ch");
ok $s->pump(1.5, sub { $_[0]->messages >= 2 }) == 0 && $s->messages == 1,
   'a replaying subscriber gets that one message only';
is +($s->messages)[0]{body}, 'k' x 1024, 'the 1024 bytes';
$s->close;

# 507: bigger than the whole store (4m); allowed by MxhrMessageMaxSize 8m.
$ch = "$base-big";
$r = ch_request($port, 'POST', "/ch/pub-8m?id=$ch", body => 'small');
is $r->{status}, 202, 'a small message where up to 8 MB are allowed';
my $big = 'B' x (5 * 1024 * 1024);
$r = ch_request($port, 'POST', "/ch/pub-8m?id=$ch", body => $big, timeout => 20);
is $r->{status}, 507, '5 MB with MxhrStoreSize 4m: 507';
$r = ch_request($port, 'POST', "/ch/pub-8m?id=$ch", chunks => [ ('B' x (1024 * 1024)) x 5 ],
                timeout => 20);
is $r->{status}, 507, 'the same chunked: 507';
$r = ch_request($port, 'POST', "/ch/pub?id=$ch", body => $big, timeout => 20);
is $r->{status}, 413, 'the same where 64 KB is the maximum: 413, not 507';
$r = ch_request($port, 'GET', "/ch/pub?id=$ch");
is $r->{json} && $r->{json}{messages}, 1, 'nothing stored but the small message';
my $st = status_auto($port);
cmp_ok $st->{MxhrStoreBytesUsed} // 1e9, '<', 4 * 1024 * 1024,
       'MxhrStoreBytesUsed stays below the store size';

# MxhrMaxChannels 2 in <VirtualHost mxhr_chlimit>.
my $lport = server_port('mxhr_chlimit');
my @names = map { "$base-lim$_" } 1 .. 4;
is ch_request($lport, 'POST', "/ch/pub?id=$names[0]", body => '1')->{status}, 202,
   'MxhrMaxChannels 2: the first channel';
is ch_request($lport, 'POST', "/ch/pub?id=$names[1]", body => '2')->{status}, 202,
   'the second';
$r = ch_request($lport, 'POST', "/ch/pub?id=$names[2]", body => '3');
is $r->{status}, 507, 'a third: 507';
is ch_request($lport, 'GET', "/ch/pub?id=$names[2]")->{status}, 404, 'and it does not exist';
$s = ch_subscribe($lport, "/ch/sub?id=$names[3]");
is $s->status, 503, 'subscribing to a new third: 503';
$s->close;
$s = ch_subscribe($lport, "/ch/sub?id=$names[0]");
is $s->status, 200, 'subscribing to an existing one: 200';
$r = ch_request($lport, 'POST', "/ch/pub?id=$names[0]", body => 'again');
is $r->{status}, 201, 'publishing to an existing one: 201';
ok $s->wait_messages(1, 3), 'delivered';
$s->close;
is ch_request($port, 'POST', "/ch/pub?id=$names[2]", body => 'main')->{status}, 202,
   'the main server is not limited';
# A deleted channel no longer counts.
is ch_request($lport, 'DELETE', "/ch/pub?id=$names[1]")->{status}, 200, 'DELETE the second';
is ch_request($lport, 'POST', "/ch/pub?id=$names[2]", body => '3')->{status}, 202,
   'now a new one may be made';
