# Channels belong to their virtual host; a customer publishes and
# subscribes with .htaccess files alone (AllowOverride FileInfo), where
# server-level directives and bad values give 500.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use MxhrTest qw(server_port error_log_size error_log_since);
use MxhrChannel;

plan tests => 36;

my $port = server_port();
my $port2 = server_port('mxhr_chan2');
my $ch = uniq_name('iso');
my $pub = "/ch/pub?id=$ch";

# The same name in two virtual hosts: two channels.
my $s1 = ch_subscribe($port, "/ch/sub?id=$ch");
my $s2 = ch_subscribe($port2, "/ch/sub?id=$ch");
is $s1->status . '/' . $s2->status, '200/200', 'a subscriber in each virtual host';
ok wait_subscribers($port, $pub, 1), 'main server: 1 subscriber';
ok wait_subscribers($port2, $pub, 1), 'mxhr_chan2: 1 subscriber';
my $r = ch_request($port, 'POST', $pub, body => 'for main');
is $r->{status}, 201, 'published in the main server';
is $r->{json} && $r->{json}{subscribers}, 1, 'counting its own subscriber only';
ok $s1->wait_messages(1, 3), 'the main server subscriber gets it';
$s2->pump(0.5);
is scalar($s2->messages), 0, 'the other virtual host subscriber does not';
$r = ch_request($port2, 'POST', $pub, body => 'for chan2');
is $r->{status}, 201, 'published in mxhr_chan2';
ok $s2->wait_messages(1, 3), 'its subscriber gets it';
$s1->pump(0.5);
is join(',', map { $_->{body} } $s1->messages), 'for main', 'main: only its own';
is join(',', map { $_->{body} } $s2->messages), 'for chan2', 'mxhr_chan2: only its own';
is ch_request($port, 'GET', $pub)->{json}{messages}, 1, 'main keeps 1';
is ch_request($port2, 'GET', $pub)->{json}{messages}, 1, 'mxhr_chan2 keeps 1';
# A resume token of one host means nothing in the other's channel.
my $only = uniq_name('only-main');
ch_request($port, 'POST', "/ch/pub?id=$only", body => 'x');
is ch_request($port2, 'GET', "/ch/pub?id=$only")->{status}, 404,
   'a channel of the main server does not exist in mxhr_chan2';
$r = ch_request($port2, 'DELETE', $pub);
is $r->{status}, 200, 'DELETE in mxhr_chan2';
ok $s2->pump(3, sub { $_[0]->closed }), 'ends its subscriber';
$s1->pump(0.3);
ok !$s1->closed && !$s1->eof, 'not the main server subscriber';
is ch_request($port, 'GET', $pub)->{status}, 200, 'whose channel still exists';
$s1->close;
$s2->close;

# .htaccess: t/htdocs/chht/pub (history 5, max 2k), chht/sub (replay 2).
my @ids;
for my $i (1 .. 7) {
    $r = ch_request($port, 'POST', '/chht/pub/anything', body => "h$i", type => 'text/plain');
    push @ids, $r->{json} && $r->{json}{id};
}
is $r->{status}, 202, '.htaccess publisher: 202';
is $r->{json} && $r->{json}{channel}, 'htroom', 'channel htroom from .htaccess';
is $r->{json} && $r->{json}{messages}, 5, '.htaccess MxhrChannelHistory 5';
my $s = ch_subscribe($port, '/chht/sub/x');
is $s->boundary, 'htch', '.htaccess subscriber, its boundary';
ok $s->wait_messages(2, 3), '.htaccess MxhrChannelReplay 2';
ok wait_subscribers($port, '/chht/pub/x', 1), 'subscribed';
$r = ch_request($port, 'POST', '/chht/pub/x', body => 'live', type => 'text/plain');
is $r->{status}, 201, 'with the subscriber: 201';
ok $s->wait_messages(3, 3), 'the live message';
is join(',', map { $_->{body} } $s->messages), 'h6,h7,live', 'last two, then live';
is scalar($s->heartbeats), 0, '.htaccess MxhrHeartbeat 0: no heartbeat part';
$r = ch_request($port, 'POST', '/chht/pub/x', body => 'z' x 2049);
is $r->{status}, 413, '.htaccess MxhrMessageMaxSize 2k: 413 for 2049 bytes';
my $g = ch_subscribe($port, '/chht/sub/y', headers => { 'Last-Event-ID' => $ids[0] });
is $g->header('mxhr-history'), 'lost', 'an id evicted by the .htaccess history: lost';
$g->close;
my $newest = ($s->messages)[-1]{id} // 'none';
$s->close;

# MxhrHeartbeat 0 (off): nothing to catch up, nothing published: no part.
my $idle = ch_subscribe($port, '/chht/sub/z', headers => { 'Last-Event-ID' => $newest });
$idle->pump(1.2);
is join(',', map { $_->{heartbeat} ? 'heartbeat' : 'message' } $idle->parts), '',
   '.htaccess MxhrHeartbeat 0, resumed from the newest id: no part while idle';
ok wait_subscribers($port, '/chht/pub/x', 1), 'subscribed';
ch_request($port, 'POST', '/chht/pub/x', body => 'wake', type => 'text/plain');
ok $idle->wait_messages(1, 3) && ($idle->messages)[0]{body} eq 'wake', 'then the next message';
$idle->close;

my $off = error_log_size();
$r = ch_request($port, 'POST', '/chht/bad-server/x', body => 'x');
is $r->{status}, 500, 'MxhrMaxChannels in .htaccess: 500';
$r = ch_request($port, 'POST', '/chht/bad-history/x', body => 'x');
is $r->{status}, 500, 'MxhrChannelHistory 0 in .htaccess: 500';
my $log = wait_until(2, sub { my $l = error_log_since($off);
                              $l =~ /MxhrMaxChannels/ && $l =~ /MxhrChannelHistory/ ? $l : '' });
ok $log, 'the error log names MxhrMaxChannels and MxhrChannelHistory';
