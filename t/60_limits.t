# Server-level limits: MxhrMaxStreams (503 while full, 200 after),
# MxhrMinInterval and MxhrMaxDurationLimit, in a <VirtualHost>.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time sleep);
use MxhrTest;

plan tests => 13;

my %v = (vhost => 'mxhr_limited');
my @held = map { stream_open('/limited', %v) } 1 .. 2;
is $_->status, 200, 'stream within MxhrMaxStreams 2 is served' for @held;
ok $held[1]->read_until(2, sub { $_[0]->parts_complete >= 1 }),
   'and streams';

my $full = stream_open('/limited', %v);
is $full->status, 503, 'a third stream gets 503 while two are open';
like $full->header('retry-after'), qr/^\d+$/, 'with Retry-After';
my $main = stream_open('/random');
is $main->status, 200, 'another virtual host is not affected';
$main->close;

$held[0]->close;
my ($status, $t0) = (0, time);
while (time - $t0 < 3) {
    my $s = stream_open('/limited', %v);
    $status = $s->status;
    $s->close;
    last if $status == 200;
    sleep 0.1;
}
is $status, 200, sprintf 'a place freed by a departed client is reused (%.2fs)',
   time - $t0;

# MxhrMinInterval 500ms raises the location's 100ms.
my $s = $held[1];
ok $s->read_until(3, sub { $_[0]->parts_complete >= 3 }), 'three sections';
my @p = MxhrTest::parse_multipart($s->header('content-type'),
                                  $s->body . "--\r\n");
my $gap = $p[2]{body} - $p[1]{body};
ok $gap >= 490 && $gap < 700, "interval raised to the floor (gap ${gap}ms)";

# MxhrMaxDurationLimit 3s caps MxhrMaxDuration 10s.
ok $s->read_all(5), 'the stream ends well before its own 10s';
my $lasted = $s->part_times ? time - $s->t0 : 0;
cmp_ok $lasted, '<', 4.5, sprintf 'ended by the 3s ceiling (%.2fs)', $lasted;
cmp_ok $lasted, '>=', 2.5, 'not before it';
like $s->body, qr/\r\n--lim--\r\n\z/, 'with the closing delimiter';
