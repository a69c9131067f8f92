# Channels: MxhrMaxSections ends a subscription after N messages, with
# its closing delimiter (multipart) or an mxhr-close event (SSE);
# heartbeats do not count, and a backlog longer than N is cut at N.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use MxhrTest qw(server_port);
use MxhrChannel;

plan tests => 12;

my $port = server_port();
my $ch = uniq_name('lim');

my $s = ch_subscribe($port, "/chlim/sub?id=$ch");
is $s->status, 200, 'subscription with MxhrMaxSections 2';
ok wait_subscribers($port, "/ch/pub?id=$ch", 1), 'counted';
$s->pump(0.7);
ok scalar($s->heartbeats) >= 2, 'heartbeats while idle (200ms)';
ok !$s->eof, 'heartbeats do not end it';
ch_request($port, 'POST', "/ch/pub?id=$ch", body => "m$_") for 1 .. 3;
$s->pump(3);
ok $s->closed, 'ended after the second message';
is join(',', map { $_->{body} } $s->messages), 'm1,m2', 'exactly two messages';
like $s->body, qr/\r\n--chlim--\r\n\z/, 'with the closing delimiter';

# A resume whose backlog holds 3 is cut at 2, as an event stream.
my $e = ch_subscribe($port, "/chlim/sub?id=$ch",
                     headers => { Accept => 'text/event-stream',
                                  'Last-Event-ID' => 0 });
$e->pump(2);
my @ids = $e->body =~ /^id: (\S+)$/mg;
is scalar(@ids), 2, 'backlog cut at two events';
like $e->body, qr/event: mxhr-close\ndata: limit\n\n\z/, 'then mxhr-close limit';

# MxhrChannelReplay on two channels, one of them with 5 x 300 KB (more
# than a 1 MB window): each channel gives its own last 5, no more.
my ($a, $b) = (uniq_name('rpa'), uniq_name('rpb'));
my $big = 'x' x (300 * 1024);
ch_request($port, 'POST', "/ch/pub-8m?id=$a", body => "A$_$big") for 1 .. 5;
ch_request($port, 'POST', "/ch/pub?id=$b", body => "b$_") for 1 .. 20;
my $r = ch_subscribe($port, "/chlim/replay?c=$a,$b");
$r->pump(5, sub { scalar($_[0]->messages) >= 10 });
$r->pump(0.5);
my @got = $r->messages;
is scalar(grep { $_->{channel} eq $a } @got), 5, 'five of the big channel';
is join(',', map { $_->{body} } grep { $_->{channel} eq $b } @got),
   'b16,b17,b18,b19,b20', 'the last five of the small one, not all twenty';
ok ids_increasing(map { $_->{id} } @got), 'in id order';
