# Channels: MxhrMaxSections ends a subscription after N messages, with
# its closing delimiter (multipart) or an mxhr-close event (SSE);
# heartbeats do not count, and a backlog longer than N is cut at N.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use MxhrTest qw(server_port);
use MxhrChannel;

plan tests => 9;

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
