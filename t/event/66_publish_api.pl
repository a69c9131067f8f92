# Another module publishes in process (mod_mxhr.h's mxhr_publish, here
# through the test module mod_mxhr_test): under event and prefork its
# message reaches the HTTP subscribers of the channel (multipart and
# SSE) with a normal id that the module is told, an HTTP publish
# afterwards gets the next id, and the limits and history in effect for
# the module's location apply (MxhrMessageMaxSize, MxhrChannelHistory,
# MxhrMaxChannels), as do the publisher's checks (one channel id, the
# event name). With MxhrRedis, a module's publish on one server reaches
# a subscriber of another, and the ids go on in Redis's id space.
use strict;
use warnings FATAL => 'all';
use Test::More;
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrServer;
use MxhrChannel;
use MxhrSse qw(sse_open);

my $loc = <<'CONF';
<Location /sub>
    SetHandler mxhr-stream
    MxhrChannel %{mxhr_arg:id}
    MxhrBoundary b
</Location>
<Location /sse>
    SetHandler mxhr-stream
    MxhrChannel %{mxhr_arg:id}
    MxhrFormat sse
</Location>
<Location /pub>
    SetHandler mxhr-publish
    MxhrChannel %{mxhr_arg:id}
</Location>
<Location /modpub>
    SetHandler mxhr-test-publish
    MxhrMessageMaxSize 100
    MxhrChannelHistory 3
</Location>
CONF

# The module's publish: (status, id, subscribers) from the test module.
sub modpub {
    my ($port, $path, %o) = @_;
    my $r = ch_request($port, $o{body} ? 'POST' : 'GET', $path, %o);
    my ($id, $n) = split /\n/, $r->{body} // '';
    return ($r->{status}, $id, $n);
}

sub seq_of { (parse_id($_[0]))[1] // -1 }

my @mpms = ('event', 'prefork');
for my $mpm (@mpms) {
    my $pool = $mpm eq 'event'
        ? { children => 2, threads => 10 }
        : { children => 4, min_spare => 2, max_spare => 8, limit => 8 };
    my $srv = MxhrServer->start(mpm => $mpm, test_so => ['mxhr_test'], pool => $pool,
                                conf => "MxhrMaxChannels 6\n$loc");
    my $port = $srv->port;
    my $ch = uniq_name('api');

    my $sub = ch_subscribe($port, "/sub?id=$ch");
    my $sse = sse_open($port, "/sse?id=$ch");
    is $sub->status, 200, "$mpm: a multipart subscriber";
    my $w = wait_subscribers($port, "/pub?id=$ch", 2, 5);
    is $w && $w->{subscribers}, 2, "$mpm: the channel counts both subscribers";

    # The query string, %-decoded, as the module publishes it.
    my ($st, $id, $n) = modpub($port, "/modpub/$ch?hello%2C+world");
    is $st, 201, "$mpm: the module's publish: 201 (someone subscribed)";
    ok parse_id($id), "$mpm: the module is told a normal id ($id)";
    is $n, 2, "$mpm: and the two subscribers";
    ok $sub->wait_messages(1, 5), "$mpm: the multipart subscriber got it";
    my ($m) = $sub->messages;
    is $m && $m->{body}, 'hello, world', "$mpm: its body";
    is $m && $m->{type}, 'text/plain', "$mpm: its type";
    is $m && $m->{id}, $id, "$mpm: its id, the one the module was told";
    ok $sse->wait_events(1, 5), "$mpm: the SSE subscriber got it";
    my ($e) = $sse->messages;
    is $e && $e->{data}, 'hello, world', "$mpm: SSE data";
    is $e && $e->{last_event_id}, $id, "$mpm: SSE id";

    # An HTTP publish afterwards: the next id, the same stream.
    my $r = ch_request($port, 'POST', "/pub?id=$ch", body => 'second', type => 'text/plain');
    is $r->{status}, 201, "$mpm: HTTP publish after it: 201";
    my $hid = $r->{json} && $r->{json}{id};
    is seq_of($hid), seq_of($id) + 1, "$mpm: it got the next id ($hid after $id)";
    is((parse_id($hid))[0], (parse_id($id))[0], "$mpm: of the same store");
    ok $sub->wait_messages(2, 5), "$mpm: the subscriber got that one too";
    is join(',', map { $_->{body} } $sub->messages), 'hello, world,second',
       "$mpm: in order";

    # A binary body with its type and an event name, by POST.
    my $bin = "\x00\xff\r\n--b\r\n";
    ($st, $id) = modpub($port, "/modpub/$ch", body => $bin, type => 'application/x-bin',
                        headers => { 'X-EventSource-Event' => 'news' });
    is $st, 201, "$mpm: a binary body with an event name: 201";
    ok $sub->wait_messages(3, 5), "$mpm: delivered";
    $m = ($sub->messages)[2];
    ok $m && $m->{body} eq $bin && $m->{type} eq 'application/x-bin'
       && $m->{id} eq $id, "$mpm: byte for byte, with its type and id";
    ok $sse->wait_events(3, 5), "$mpm: SSE: delivered";
    $e = ($sse->messages)[2];
    like $e && $e->{type}, qr/\Anews/, "$mpm: SSE: under its event name";

    # The limits of the module's location.
    ($st) = modpub($port, "/modpub/$ch", body => 'x' x 101, type => 'text/plain');
    is $st, 413, "$mpm: 101 bytes: 413 (MxhrMessageMaxSize 100 where the module runs)";
    ($st) = modpub($port, "/modpub/$ch", body => 'x' x 100, type => 'text/plain');
    is $st, 201, "$mpm: 100 bytes: published";
    my $h = uniq_name('hist');
    modpub($port, "/modpub/$h?m$_") for 1 .. 5;
    $r = ch_request($port, 'GET', "/pub?id=$h");
    is $r->{json} && $r->{json}{messages}, 3, "$mpm: MxhrChannelHistory 3 kept 3 of 5";
    ($st) = modpub($port, "/modpub/a,b?x");
    is $st, 400, "$mpm: two channels: 400";
    ($st) = modpub($port, "/modpub/?x");
    is $st, 400, "$mpm: no channel id: 400";
    ($st) = modpub($port, "/modpub/$ch", body => 'x', type => 'text/plain',
                   headers => { 'X-EventSource-Event' => 'e' x 256 });
    is $st, 400, "$mpm: an event name of 256 bytes: 400";
    ($st) = modpub($port, "/modpub/$ch", body => 'x', type => 'text/plain',
                   headers => { 'X-EventSource-Event' => 'mxhr-close' });
    is $st, 400, "$mpm: the module's own event name mxhr-close: 400";
    ($st) = modpub($port, "/modpub/$ch", body => 'x', type => 'text/x-' . ('a' x 1100));
    is $st, 400, "$mpm: a media type over 1024 bytes: 400";
    # Two channels so far; MxhrMaxChannels 6 leaves room for 4 more.
    my @st = map { (modpub($port, '/modpub/' . uniq_name('full') . '?x'))[0] } 1 .. 5;
    is "@st", '202 202 202 202 507', "$mpm: MxhrMaxChannels 6: the 7th channel gets 507";
    $sub->close;
    $sse->close;
    $srv->stop;
    unlike $srv->error_log, qr/\[(?:error|crit|emerg|alert)\]|exit signal/,
           "$mpm: no error in the log";
}

SKIP: {
    skip 'no redis-server', 7 unless -x '/usr/bin/redis-server';
    require MxhrRedis;
    my $redis = MxhrRedis->start;
    my $extra = "<Location /modpub>\n    SetHandler mxhr-test-publish\n</Location>\n";
    my @srv = map { MxhrServer->start(mpm => $_, test_so => ['mxhr_test'],
                                      conf => MxhrRedis::pool($_) . $redis->httpd_conf . $extra) }
              'event', 'prefork';
    my ($pa, $pb) = map { $_->port } @srv;
    my $ch = uniq_name('redis');
    # Redis knows a channel from its first publish on.
    my $r = ch_request($pa, 'POST', "/pub?id=$ch", body => 'first', type => 'text/plain');
    is $r->{status}, 202, 'Redis: the channel made by a first publish';
    my $sub = ch_subscribe($pb, "/sub?id=$ch");
    wait_subscribers($pb, "/pub?id=$ch", 1, 5);
    my ($st, $id) = modpub($pa, "/modpub/$ch?from-a");
    is $st, 201, 'Redis: the module publishes on A (event): 201, the subscriber is on B';
    ok $sub->wait_messages(1, 5), 'Redis: the subscriber on B (prefork) got it';
    my ($m) = $sub->messages;
    ok $m && $m->{body} eq 'from-a' && $m->{id} eq $id, "Redis: its body and id ($id)";
    $r = ch_request($pb, 'POST', "/pub?id=$ch", body => 'b', type => 'text/plain');
    is seq_of($r->{json} && $r->{json}{id}), seq_of($id) + 1, 'Redis: an HTTP publish on B: the next id';
    $sub->close;
    MxhrRedis::stop_servers(@srv);
    $redis->stop;
}

done_testing;
