# Sections follow absolute deadlines: the first at once, section k at
# start + k * interval, with no drift however long the stream.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use JSON::PP ();
use MxhrTest;

plan tests => 16;

my $interval = 0.5;
my $s = stream_open('/timing');
ok $s->read_all(6), 'six sections at 500ms arrive and the stream closes';
my @p = $s->parts;
is scalar @p, 6, 'six parts';
my @t = $s->part_times;
# Generous slack for a shared, noisy machine; the first one goes at once.
cmp_ok $t[0], '<', 0.4, sprintf 'first section at once (%.3fs)', $t[0];
for my $k (1 .. 5) {
    cmp_ok $t[$k], '<', $k * $interval + 0.4,
        sprintf 'section %d within k*interval + slack (%.3fs)', $k + 1, $t[$k];
}
# The server stamps each body with its own clock: the spacing of those
# stamps shows the deadlines, free of network and client noise.
my @ms = map { JSON::PP::decode_json($_->{body})->{time} } @p;
for my $k (1 .. 5) {
    my $off = $ms[$k] - $ms[0] - $k * 500;
    ok $off >= -5 && $off < 150,
        "server stamp of section @{[$k+1]} is ${off}ms off its deadline";
}
my $json = JSON::PP::decode_json($p[2]{body});
is $json->{seq}, 3, 'JSON seq matches Mxhr-Seq';
is $p[2]{seq}, 3, 'Mxhr-Seq 3';
cmp_ok abs($ms[0] / 1000 - time), '<', 60, 'epoch-ms is the current time';
