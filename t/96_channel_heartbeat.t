# Channels: an idle subscription with MxhrHeartbeat 1s gets a heartbeat
# part (text/plain, Content-Length 0, Mxhr-Seq, Mxhr-Heartbeat: 1, no
# body, no Mxhr-Id) about every second; messages count on after them.
# With the default (30s) none comes in those seconds.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time);
use MxhrTest qw(server_port);
use MxhrChannel;

plan tests => 19;

my $port = server_port();
my $ch = uniq_name('hb');
my $t0 = time;
my $hb = ch_subscribe($port, "/ch/sub-hb?id=$ch");
my $quiet = ch_subscribe($port, "/ch/sub?id=$ch");
is $hb->status, 200, 'a subscription with MxhrHeartbeat 1s';

# Nothing before the channel has been idle for a second.
ch_pump_all([$hb, $quiet], 0.7);
is join(',', map { $_->{heartbeat} ? 'heartbeat' : 'message' } $hb->parts), '',
   'no part in the first 0.7 s (idle less than MxhrHeartbeat 1s)';
my $after_idle = sub { grep { $_->{at} - $t0 >= 0.8 } $hb->heartbeats };
ok ch_pump_all([$hb, $quiet], 2.5, sub { $after_idle->() >= 1 }),
   'a heartbeat after a second idle, within 2.5 s';
my ($h) = $after_idle->();
$h ||= { h => {}, names => [], body => 'none', at => 1e9 };
my $idx = 1 + (grep { $_->{at} < $h->{at} } $hb->parts);
is $h->{type}, 'text/plain', 'Content-Type: text/plain';
is $h->{h}{'content-length'}, '0', 'Content-Length: 0';
is $h->{body}, '', 'empty body';
is $h->{seq}, $idx, "Mxhr-Seq: $idx (counting the parts)";
is $h->{heartbeat}, '1', 'Mxhr-Heartbeat: 1';
ok !exists $h->{h}{'mxhr-id'}, 'no Mxhr-Id (not a message, not a resume token)';
is join(',', @{ $h->{names} }), 'Content-Type,Content-Length,Mxhr-Seq,Mxhr-Heartbeat',
   'headers in the contract\'s order';

ok ch_pump_all([$hb, $quiet], 2.5, sub { grep { $_->{at} > $h->{at} } $hb->heartbeats }),
   'another within 2.5 s';
my ($h2) = grep { $_->{at} > $h->{at} } $hb->heartbeats;
cmp_ok $h2 ? $h2->{at} - $h->{at} : 0, '>=', 0.8, 'about a second after the one before';
my $n = () = $hb->parts;
my $r = ch_request($port, 'POST', "/ch/pub?id=$ch", body => 'news');
is $r->{status}, 201, 'a message';
ok ch_pump_all([$hb, $quiet], 3, sub { $hb->messages >= 1 && $quiet->messages >= 1 }),
   'arrives on both';
my ($m) = $hb->messages;
is $m->{seq}, $n + 1, 'its Mxhr-Seq counts the heartbeats before it';
my @mime = $hb->mime;
is_deeply [ map { $_->{body} } @mime ], [ ('') x $n, 'news' ],
   'MIME::Parser: empty heartbeat parts, then the message';
is scalar($quiet->heartbeats), 0, 'the default heartbeat (30s): none in these seconds';
ok !defined $hb->{wire_error}, 'wire format' or diag $hb->{wire_error};
my $info = ch_request($port, 'GET', "/ch/pub?id=$ch")->{json} || {};
my $since = time - $t0;
ok +($info->{requested} // -1) >= int($since) - 1 && $info->{requested} <= $since + 1,
   sprintf 'JSON requested: the seconds since they connected (%s, %.1f s)',
           $info->{requested} // 'none', $since;
$_->close for $hb, $quiet;
