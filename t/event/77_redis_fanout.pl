# Redis mode (spec/redis.md): two httpd servers A and B on one Redis,
# with the same ServerName:port, share their channels. Run as (A event,
# B prefork) and (A prefork, B event):
# - fan-out: a message published on A or B reaches the subscribers of
#   both (several on each, in two children at least), multipart and
#   SSE, with the same ids, types and bodies byte for byte (empty,
#   binary, 20 KB, a body holding the stream's delimiter), in order;
#   201 counts the subscribers of both servers, 202 when there are none
#   (also once the subscribers left); one id space; mod_status counters;
# - GET on B answers for a channel published on A (404 when unknown);
# - a subscriber moves from A to B with its last id (Last-Event-ID,
#   ?last_event_id=, SSE) and gets what was published meanwhile, once;
# - an id Redis no longer keeps (MxhrChannelHistory 3): on B
#   "Mxhr-History: lost" / event mxhr-history-lost, then the kept ones;
# - DELETE on B ends the streams on A (and B): closing delimiter, SSE
#   mxhr-close "deleted"; the channel is gone on both;
# - MxhrRedis only in the main server config, a redis:// URL;
#   MxhrRedisTimeout takes a duration (500ms); a decimal is refused.
# Redis mode knows a channel from its first publish on (a subscriber
# makes no keys), so each channel gets one before its subscribers.
use strict;
use warnings FATAL => 'all';
use Test::More;
use Time::HiRes qw(time sleep);
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrServer;
use MxhrChannel;
use MxhrSse qw(sse_open sse_event_bytes sse_base64_data strip_heartbeats);
use MxhrRedis;

my $redis = MxhrRedis->start;
my @pairs = (['event', 'prefork'], ['prefork', 'event']);

sub httpd {
    my $mpm = shift;
    return MxhrServer->start(mpm => $mpm, pool => MxhrRedis::pool_sizes($mpm), conf => $redis->httpd_conf);
}

# POST: the new message's id, or "(status)" when there is none.
sub pub {
    my ($port, $path, $body, %o) = @_;
    my $r = ch_request($port, 'POST', $path, body => $body, %o);
    return ($r->{json} && $r->{json}{id}) // "($r->{status})";
}

sub bodies { join ',', map { $_->{body} } $_[0]->messages }
sub ids    { join ' ', map { $_->{id} // '-' } $_[0]->messages }
sub sse_messages { grep { $_->{type} !~ /\Amxhr-/ } $_[0]->events }

sub valid_utf8 {
    my $b = shift;
    return utf8::decode($b) && $b !~ /[\x{D800}-\x{DFFF}]/ ? 1 : 0;
}

# What an SSE stream of one channel carries for a message (README:
# not UTF-8 goes base64 as "message-base64").
sub sse_bytes {
    my ($id, $body) = @_;
    return valid_utf8($body) ? sse_event_bytes(id => $id, data => $body)
         : sse_event_bytes(id => $id, event => 'message-base64', data => sse_base64_data($body));
}

# A part as it was on the wire, but its Mxhr-Seq (each stream counts
# its own parts, heartbeats included).
sub part_wire {
    my $p = shift;
    return join("\r\n", map { "$_: $p->{h}{lc $_}" } grep { lc ne 'mxhr-seq' } @{ $p->{names} })
         . "\r\n\r\n$p->{raw}";
}

# Opens multipart subscribers two at a time until two children of the
# server hold them (at most $max).
sub spread {
    my ($srv, $path, $max) = @_;
    my (@subs, %by);
    while (@subs < $max) {
        push @subs, map { ch_subscribe($srv->port, $path, proto => @subs % 2 ? '1.0' : '1.1') } 1 .. 2;
        ch_pump_all(\@subs, 0.1);
        %by = ();
        $by{$_}++ for grep { $_ } holders($srv, @subs);
        last if keys %by >= 2;
    }
    return (\@subs, scalar keys %by);
}

sub wait_status {
    my ($srv, $secs, $cond) = @_;
    my $st = {};
    wait_until($secs, sub { $st = status_auto($srv->port); $cond->($st) });
    return $st;
}

for my $pair (@pairs) {
    my ($ma, $mb) = @$pair;
    my $t0 = time;
    my $A = httpd($ma);
    my $B = httpd($mb);
    my ($pa, $pb) = ($A->port, $B->port);
    my $what = "A $ma, B $mb";

    # ---- Fan-out ----
    # Redis mode knows a channel from its first publish on (a subscriber
    # makes no keys): one before anyone subscribes, so that GET answers.
    my $ch = uniq_name('fan');
    my $hello = ch_request($pa, 'POST', "/pub?id=$ch", body => 'hello');
    is $hello->{status}, 202, "$what: a first message, nobody subscribed yet: 202";
    my ($ma_subs, $ka) = spread($A, "/sub?id=$ch", 10);
    my ($mb_subs, $kb) = spread($B, "/sub?id=$ch", 10);
    cmp_ok $ka + 0, '>=', 2, "$what: A's multipart subscribers in $ka children";
    cmp_ok $kb + 0, '>=', 2, "$what: B's multipart subscribers in $kb children";
    my @mp = (@$ma_subs, @$mb_subs);
    my @sse = (sse_open($pa, "/sse?id=$ch"), sse_open($pb, "/sse?id=$ch", proto => '1.0'));
    my $n = @mp + @sse;
    is scalar(grep { $_->status == 200 } @mp, @sse), $n, "$what: $n subscribers, 200 each";
    my $info = wait_subscribers($pb, "/pub?id=$ch", $n, 5);
    is $info && $info->{subscribers}, $n, "$what: B's GET counts the subscribers of both servers";

    my $st0a = status_auto($pa);
    my $st0b = status_auto($pb);
    my $bin = join '', map { chr } 0 .. 255;
    my $x = 12345;
    my $big = join '', map { $x = ($x * 1103515245 + 12345) % 2**31; chr(($x >> 16) & 0xff) } 1 .. 20000;
    my @send = (
        [ 'A', 'text/plain', 'plain text' ],
        [ 'A', 'text/plain', '' ],
        [ 'A', 'application/octet-stream', $bin ],
        [ 'A', 'text/plain', "before\r\n--rb\r\nafter\r\n--rb--\r\n" ],
        [ 'A', undef, 'no Content-Type' ],
        [ 'A', 'application/octet-stream', $big ],
        [ 'B', 'application/json', '{"from":"B"}' ],
        [ 'A', 'text/plain; charset=utf-8', "caf\xC3\xA9\nline 2\r\nline 3" ],
        [ 'B', 'text/plain', 'last, from B' ],
    );
    my (@want, @answers);
    for my $m (@send) {
        my ($on, $type, $body) = @$m;
        my $r = ch_request($on eq 'A' ? $pa : $pb, 'POST', "/pub?id=$ch", body => $body, type => $type);
        push @answers, "$on:$r->{status}:" . ($r->{json} ? $r->{json}{subscribers} // '?' : '-');
        push @want, { id => ($r->{json} && $r->{json}{id}) // "($r->{status})", body => $body,
                      type => $type // 'application/octet-stream' };
    }
    my $na = grep { $_->[0] eq 'A' } @send;
    my $nb = @send - $na;
    is_deeply \@answers, [ map { "$_->[0]:201:$n" } @send ],
              "$what: every publish (A and B) 201, counting all $n subscribers";
    my @wid = map { $_->{id} } @want;
    ok ids_increasing(@wid), "$what: one id space, increasing across A and B (@wid[0, -1])";

    my $cnt = @want;
    ch_pump_all(\@mp, 10, sub { !grep { $_->messages < $cnt } @mp });
    $_->wait_events($cnt, 5) for @sse;
    my $expect = join '|', map { "$_->{id} $_->{type} " . unpack('H*', $_->{body}) } @want;
    my $exact = grep {
        $expect eq join '|', map { ($_->{id} // '-') . ' ' . ($_->{type} // '-') . ' ' . unpack('H*', $_->{body}) }
                              $_->messages
    } @mp;
    is $exact, scalar(@mp), "$what: every multipart subscriber (A and B) got the $cnt messages: ids, types, bodies exact, in order"
        or diag join "\n", map { ids($_) } @mp;
    my $ref = join '', map { part_wire($_) } $mp[0]->messages;
    is scalar(grep { $ref eq join '', map { part_wire($_) } $_->messages } @mp), scalar(@mp),
       "$what: the same part bytes on every multipart stream (Mxhr-Seq aside)";
    is scalar(grep { !defined $_->{wire_error} && !$_->eof } @mp), scalar(@mp),
       "$what: multipart streams well-formed and open";
    my @b64 = map { $_->{cte} } grep { ($_->{body} // '') =~ /--rb/ } $mp[0]->messages;
    is "@b64", 'base64', "$what: the body holding the delimiter went base64";
    my $sse_want = join '', map { sse_bytes($_->{id}, $_->{body}) } @want;
    is scalar(grep { strip_heartbeats($_->body) eq $sse_want } @sse), 2,
       "$what: both SSE streams (A HTTP/1.1, B HTTP/1.0): exactly the $cnt events";

    # Counters: A wrote its publishes, B its own; each read A's from Redis.
    my $sa = wait_status($A, 5, sub { ($_[0]{MxhrRedisMessagesIn} // 0) - ($st0a->{MxhrRedisMessagesIn} // 0) >= $nb });
    my $sb = wait_status($B, 5, sub { ($_[0]{MxhrRedisMessagesIn} // 0) - ($st0b->{MxhrRedisMessagesIn} // 0) >= $na });
    my $delta = sub { my ($s, $s0, $k) = @_; defined $s->{$k} && defined $s0->{$k} ? $s->{$k} - $s0->{$k} : 'none' };
    is $delta->($sa, $st0a, 'MxhrRedisMessagesOut') . ' ' . $delta->($sb, $st0b, 'MxhrRedisMessagesOut'),
       "$na $nb", "$what: MxhrRedisMessagesOut grew by what each published ($na, $nb)";
    ok $delta->($sa, $st0a, 'MxhrRedisMessagesIn') ne 'none' && $delta->($sa, $st0a, 'MxhrRedisMessagesIn') >= $nb
       && $delta->($sb, $st0b, 'MxhrRedisMessagesIn') ne 'none' && $delta->($sb, $st0b, 'MxhrRedisMessagesIn') >= $na,
       "$what: MxhrRedisMessagesIn: each read the other's messages ("
       . $delta->($sa, $st0a, 'MxhrRedisMessagesIn') . ', ' . $delta->($sb, $st0b, 'MxhrRedisMessagesIn') . ')';
    is join(' ', map { $_->{MxhrRedisConnected} // 'none' } $sa, $sb), '1 1', "$what: MxhrRedisConnected: 1 on both";

    # ---- GET on B for a channel published on A ----
    my $ga = ch_request($pa, 'GET', "/pub?id=$ch");
    my $gb = ch_request($pb, 'GET', "/pub?id=$ch");
    is join(' ', map { $_->{status} } $ga, $gb), '200 200', "$what: GET info: 200 on A and B";
    is_deeply [ map { my $j = $_->{json} || {}; [ @$j{qw(channel messages last_message_id subscribers)} ] } $ga, $gb ],
              [ ([ $ch, $cnt + 1, $wid[-1], $n ]) x 2 ],
              "$what: the same info on both: channel, " . ($cnt + 1) . " messages, last id, $n subscribers";
    is ch_request($pb, 'GET', '/pub?id=' . uniq_name('never'))->{status}, 404, "$what: GET on B, unknown channel: 404";

    # ---- Nobody subscribed: 202 ----
    my $r = ch_request($pa, 'POST', '/pub?id=' . uniq_name('none'), body => 'x');
    is "$r->{status} " . ($r->{json} ? $r->{json}{subscribers} // '?' : '-'), '202 0',
       "$what: a channel nobody subscribed to: 202, 0 subscribers";
    $_->close for @mp, @sse;
    ok wait_until(8, sub { my $j = ch_request($pb, 'GET', "/pub?id=$ch")->{json};
                           $j && defined $j->{subscribers} && $j->{subscribers} == 0 }),
       "$what: once they all left, B's GET counts 0 subscribers";
    $r = ch_request($pa, 'POST', "/pub?id=$ch", body => 'to nobody');
    is $r->{status}, 202, "$what: then a publish on A: 202";

    # ---- A subscriber moves from A to B with its last id ----
    $ch = uniq_name('move');
    my $pub = "/pub?id=$ch";
    pub($pa, $pub, 'k0');
    my @onA = (ch_subscribe($pa, "/sub?id=$ch"), sse_open($pa, "/sse?id=$ch"));
    wait_subscribers($pa, $pub, 2, 5);
    my @k = map { pub($pa, $pub, "k$_") } 1 .. 2;
    ok $onA[0]->wait_messages(2, 5) && $onA[1]->wait_events(2, 5), "$what: on A: k1, k2";
    my $last = ((($onA[0]->messages)[-1] || {})->{id}) // 'none';
    my $sse_last = $onA[1]->parser->last_event_id;
    is "$last $sse_last", "$k[1] $k[1]", "$what: the last id, multipart and SSE";
    $_->close for @onA;
    push @k, map { pub($pa, $pub, "k$_") } 3 .. 4;
    my @onB = (ch_subscribe($pb, "/sub?id=$ch", headers => { 'Last-Event-ID' => $last }),
               ch_subscribe($pb, "/sub?id=$ch&last_event_id=$last", proto => '1.0'),
               sse_open($pb, "/sse?id=$ch", headers => { 'Last-Event-ID' => $sse_last }));
    is scalar(grep { $_->status == 200 && !defined $_->header('mxhr-history') } @onB), 3,
       "$what: on B with A's id (Last-Event-ID, ?last_event_id=, SSE): 200, nothing lost";
    wait_subscribers($pb, $pub, 3, 5);
    push @k, map { pub($_ == 5 ? $pa : $pb, $pub, "k$_") } 5 .. 6;
    ok $onB[0]->wait_messages(4, 5) && $onB[1]->wait_messages(4, 5) && $onB[2]->wait_events(4, 5),
       "$what: the resumed subscribers got the messages";
    is join(' | ', (map { bodies($_) . ' ' . ids($_) } @onB[0, 1]),
                   join(',', map { $_->{data} } sse_messages($onB[2])) . ' '
                   . join(' ', map { $_->{last_event_id} } sse_messages($onB[2]))),
       join(' | ', ("k3,k4,k5,k6 @k[2 .. 5]") x 3),
       "$what: exactly k3, k4 (published while away) and k5, k6 (live), once each, in order";
    $_->close for @onB;

    # ---- An id that Redis no longer keeps ----
    $ch = uniq_name('lost');
    my @e = (undef, map { pub($pa, "/hist3?id=$ch", "e$_") } 1 .. 6);
    $r = ch_request($pb, 'GET', "/hist3?id=$ch");
    is $r->{json} && $r->{json}{messages}, 3, "$what: MxhrChannelHistory 3: B's GET says 3 kept";
    my $lm = ch_subscribe($pb, "/sub?id=$ch", headers => { 'Last-Event-ID' => $e[1] });
    my $ls = sse_open($pb, "/sse?id=$ch", headers => { 'Last-Event-ID' => $e[1] });
    is $lm->header('mxhr-history'), 'lost', "$what: an evicted id of A's on B: Mxhr-History: lost";
    ok $lm->wait_messages(3, 5) && $ls->wait_events(4, 5), "$what: the kept ones came";
    is bodies($lm) . ' ' . ids($lm), "e4,e5,e6 @e[4 .. 6]", "$what: multipart: from the oldest kept (e4)";
    is_deeply [ map { [ $_->{type}, $_->{type} eq 'message' ? $_->{last_event_id} : '' ] } $ls->events ],
              [ [ 'mxhr-history-lost', '' ], map { [ 'message', $e[$_] ] } 4 .. 6 ],
              "$what: SSE: mxhr-history-lost, then e4, e5, e6";
    my $ok4 = ch_subscribe($pb, "/sub?id=$ch", headers => { 'Last-Event-ID' => $e[4] });
    ok !defined $ok4->header('mxhr-history') && $ok4->wait_messages(2, 5) && bodies($ok4) eq 'e5,e6',
       "$what: the oldest kept id: nothing lost, e5, e6";
    $_->close for $lm, $ls, $ok4;

    # ---- DELETE on B ends the streams on A ----
    $ch = uniq_name('del');
    $pub = "/pub?id=$ch";
    pub($pa, $pub, 'd0');
    my @dm = (ch_subscribe($pa, "/sub?id=$ch"), ch_subscribe($pa, "/sub?id=$ch", proto => '1.0'),
              ch_subscribe($pb, "/sub?id=$ch"));
    my $ds = sse_open($pa, "/sse?id=$ch");
    wait_subscribers($pb, $pub, 4, 5);
    my $d1 = ch_request($pa, 'POST', $pub, body => 'd1');
    ok $d1->{status} == 201 && !grep({ !$_->wait_messages(1, 5) } @dm) && $ds->wait_events(1, 5),
       "$what: d1 reached all four";
    $r = ch_request($pb, 'DELETE', $pub);
    is $r->{status}, 200, "$what: DELETE on B: 200";
    ch_pump_all(\@dm, 5, sub { !grep { !$_->closed } @dm });
    is scalar(grep { $_->closed && !defined $_->{wire_error} } @dm), 3,
       "$what: A's two multipart streams (and B's) ended with the closing delimiter";
    ok $ds->read_until(5), "$what: A's SSE stream ended";
    is_deeply [ map { [ $_->{type}, $_->{data} ] } $ds->events ],
              [ [ 'message', 'd1' ], [ 'mxhr-close', 'deleted' ] ], "$what: SSE: d1, then mxhr-close: deleted";
    my $gone = '';
    wait_until(3, sub { ($gone = join ' ', map { ch_request($_, 'GET', $pub)->{status} } $pa, $pb) eq '404 404' });
    is $gone, '404 404', "$what: the channel is gone on A and B (at once, or once the counts caught up)";
    is ch_request($pa, 'DELETE', $pub)->{status}, 404, "$what: DELETE again, on A: 404";
    $_->close for @dm, $ds;

    unlike $A->error_log . $B->error_log, qr/MXHR080/, "$what: no Redis outage logged";
    MxhrRedis::stop_servers($A, $B);
    diag sprintf "%s: %.1f s", $what, time - $t0;
}

# Where the directives may be: the main server config only; a URL that
# is not one is refused at start; a timeout may have decimals.
my $url = $redis->url;
for my $bad (["<VirtualHost 127.0.0.1:80>\n    MxhrRedis $url\n</VirtualHost>\n", 'MxhrRedis in a <VirtualHost>'],
             ["<Location /x>\n    MxhrRedis $url\n</Location>\n", 'MxhrRedis in a <Location>'],
             ["MxhrRedis http://127.0.0.1:1/\n", 'MxhrRedis http://...'],
             ["MxhrRedis $url\nMxhrRedisTimeout 0.5\n", 'MxhrRedisTimeout 0.5']) {
    my ($conf, $what) = @$bad;
    my $s = eval { MxhrServer->start(conf => $conf) };
    my $err = $@;
    $s->stop if $s;
    like $err, qr/MxhrRedis(Timeout)?:? /, "$what: httpd does not start, and says why";
}
my $s = eval { MxhrServer->start(conf => "MxhrRedis $url\nMxhrRedisTimeout 500ms\n") };
ok $s, 'MxhrRedisTimeout 500ms is taken' or diag $@;
$s->stop if $s;

done_testing;
