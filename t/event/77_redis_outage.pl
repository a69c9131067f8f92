# Redis mode (spec/redis.md): Redis goes away and comes back, under
# two servers on one Redis, A (event MPM) and B (prefork):
# - Redis stopped: every publish on A and B gets 503 at once (far below
#   MxhrRedisTimeout + 1 s) with a plain-text body naming Redis, a new
#   subscription 503 too; the open streams stay open with their
#   heartbeats (MxhrHeartbeat 1s); each error log has exactly one
#   MXHR080 line for the outage, whatever the number of failures;
#   mod_status says MxhrRedisConnected: 0;
# - Redis started again with its data: MXHR081 once on each server,
#   MxhrRedisConnected: 1, MxhrRedisReconnects grew, every publish
#   succeeds (20 in a row, whichever child and pooled connection takes
#   it), the open streams get the new messages (each once, none of
#   those refused), and a subscriber that left
#   before the outage resumes with its last id (on the other server)
#   and misses nothing;
# - Redis answering nothing (SIGSTOP): a publish gets 503 within
#   MxhrRedisTimeout + 1 s; delivery resumes after SIGCONT;
# - Redis started again without its data: the streams end, a resume
#   with an old id is told it lost history (multipart and SSE), new ids
#   are of another epoch.
use strict;
use warnings FATAL => 'all';
use Test::More;
use Time::HiRes qw(time sleep);
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrServer;
use MxhrChannel;
use MxhrSse qw(sse_open);
use MxhrRedis;

my $TIMEOUT = 1;       # MxhrRedisTimeout
my $redis = MxhrRedis->start;
my %srv;
for my $s (['A', 'event'], ['B', 'prefork']) {
    # Redis stopped, paused and wiped on purpose: MXHR080 says so.
    $srv{ $s->[0] } = MxhrServer->start(mpm => $s->[1], expect_errors => [qr/MXHR080/],
                                        pool => MxhrRedis::pool_sizes($s->[1]), conf =>
                                        $redis->httpd_conf(heartbeat => '1s', timeout => $TIMEOUT));
}
my ($A, $B) = @srv{qw(A B)};
my ($pa, $pb) = ($A->port, $B->port);
my $ch = uniq_name('out');
my $pub = "/pub?id=$ch";
my $t0 = time;

# The streams of the test: multipart ones and SSE ones, read together;
# where each error log was when the current phase began.
my (@MP, @SSE, %off);
sub pump_all {
    my ($secs, $cond) = @_;
    my $end = time + $secs;
    while (1) {
        return 1 if $cond->();
        return 0 if time >= $end;
        ch_pump_all([ grep { !$_->eof } @MP ], 0.05);
        $_->read_until(0.02, sub { 0 }) for grep { !$_->ended } @SSE;
    }
}

sub sse_messages { grep { $_->{type} !~ /\Amxhr-/ } $_[0]->events }
# "body id" of each message, multipart or SSE.
sub got {
    my $s = shift;
    return join ' ', map { "$_->{body}=" . ($_->{id} // '-') } $s->messages
        if $s->isa('MxhrChannel::Sub');
    return join ' ', map { "$_->{data}=$_->{last_event_id}" } sse_messages($s);
}
sub n_msgs { my $s = shift; scalar($s->isa('MxhrChannel::Sub') ? $s->messages : sse_messages($s)) }
sub n_beats { my $s = shift; scalar($s->isa('MxhrChannel::Sub') ? $s->heartbeats : $s->parser->comments) }
sub is_open { my $s = shift; $s->isa('MxhrChannel::Sub') ? !$s->eof : !$s->ended }

sub publish {
    my ($port, $body) = @_;
    my $t = time;
    my $r = ch_request($port, 'POST', $pub, body => $body, type => 'text/plain');
    $r->{took} = time - $t;
    $r->{id} = ($r->{json} && $r->{json}{id}) // "($r->{status})";
    return $r;
}

# Publishes until the answer is not 503 (Redis coming back).
sub publish_retry {
    my ($port, $body, $secs) = @_;
    my $r;
    wait_until($secs, sub { $r = publish($port, $body); $r->{status} != 503 });
    return $r;
}

sub log_since { substr($_[0]->error_log, $_[1]) }
# The MXHR08x lines of A and B since the offsets, for a diagnosis.
sub mxhr08 {
    return join "\n", map { my $k = $_; map { "$k: $_" } grep { /MXHR08/ } split /\n/, log_since($srv{$k}, $off{$k}) } qw(A B);
}
sub count { my ($re, $text) = @_; scalar(() = $text =~ /$re/g) }
sub wait_status {
    my ($srv, $secs, $cond) = @_;
    my $st = {};
    wait_until($secs, sub { $st = status_auto($srv->port); $cond->($st) });
    return $st;
}

# ---- Before: four streams, one subscriber that leaves ----
# Redis mode knows a channel from its first publish on (a subscriber
# makes no keys): one before anyone subscribes, so that GET answers.
is publish($pa, 'm0')->{status}, 202, 'a first message, nobody subscribed yet: 202';
@MP = (ch_subscribe($pa, "/sub?id=$ch"), ch_subscribe($pb, "/sub?id=$ch", proto => '1.0'));
@SSE = (sse_open($pa, "/sse?id=$ch"), sse_open($pb, "/sse?id=$ch"));
my $leaver = ch_subscribe($pa, "/sub?id=$ch");
ok wait_subscribers($pb, $pub, 5, 5), 'five subscribers, on A and B';
my @m = (undef, publish($pa, 'm1')->{id});
ok $leaver->wait_messages(1, 5), 'the leaver got m1';
my $leaver_id = ((($leaver->messages)[0] || {})->{id}) // 'none';
$leaver->close;
push @m, publish($pb, 'm2')->{id};
ok pump_all(5, sub { !grep { n_msgs($_) < 2 } @MP, @SSE }), 'the four streams got m1 and m2';
# Every child of A and B has talked to Redis (its idle connections
# outlive the outage).
ch_request($_, 'GET', $pub) for ($pa, $pb) x 10;
my %st0 = map { $_ => status_auto($srv{$_}->port) } qw(A B);
is join(' ', map { $st0{$_}{MxhrRedisConnected} // 'none' } qw(A B)), '1 1', 'MxhrRedisConnected: 1 on A and B';
%off = map { $_ => length $srv{$_}->error_log } qw(A B);

# ---- Redis stopped ----
$redis->stop;
my @fail;
for my $i (1 .. 10) {
    push @fail, publish($pa, "lostA$i"), publish($pb, "lostB$i");
}
is join(' ', map { $_->{status} } @fail), join(' ', (503) x 20), '20 publishes on A and B while Redis is down: 503 each';
my $slowest = 0;
$_->{took} > $slowest and $slowest = $_->{took} for @fail;
cmp_ok $slowest, '<', $TIMEOUT + 1, sprintf 'each answered within MxhrRedisTimeout + 1 s (slowest %.2f s)', $slowest;
is scalar(grep { $_->{body} =~ /redis/i } @fail), 20, 'each with a body naming Redis'
    or diag "A: $fail[0]{body}\nB: $fail[1]{body}";
is scalar(grep { ($_->{headers}{'content-type'} // '') =~ m{^text/} } @fail), 20,
   'each a text error page (httpd\'s error document, with the reason)'
    or diag 'Content-Type: ' . ($fail[0]{headers}{'content-type'} // 'none');
my @refused = (eval { ch_subscribe($pa, "/sub?id=$ch") }, eval { sse_open($pb, "/sse?id=$ch") });
is join(' ', map { $_ ? $_->status : 'none' } @refused[0, 1]), '503 503', 'a new subscription (A multipart, B SSE): 503';
$_ && $_->close for @refused[0, 1];
my %beats = map { $_ => n_beats($_) } @MP, @SSE;
ok pump_all(8, sub { !grep { n_beats($_) < $beats{$_} + 2 } @MP, @SSE }),
   'the open streams keep their heartbeats (two more each)';
is scalar(grep { is_open($_) } @MP, @SSE), 4, 'and stay open';
my %down = map { $_ => wait_status($srv{$_}, 10, sub { ($_[0]{MxhrRedisConnected} // '') eq '0' }) } qw(A B);
is join(' ', map { $down{$_}{MxhrRedisConnected} // 'none' } qw(A B)), '0 0', 'MxhrRedisConnected: 0 on A and B';
ok wait_until(5, sub { !grep { count(qr/MXHR080/, log_since($srv{$_}, $off{$_})) < 1 } qw(A B) }),
   'MXHR080 logged';
is join(' ', map { count(qr/MXHR080/, log_since($srv{$_}, $off{$_})) } qw(A B)), '1 1',
   'one MXHR080 line on each server for 20 failed publishes, 2 refused subscriptions'
    or diag mxhr08();
my $outage = time;

# ---- Redis back, with its data ----
$redis->restart;
my $r3 = publish_retry($pa, 'm3', 15);
is $r3->{status}, 201, sprintf 'after the restart a publish on A succeeds, 201 (%.1f s)', time - $outage;
push @m, $r3->{id};
my $r4 = publish_retry($pb, 'm4', 15);
is $r4->{status}, 201, 'and on B';
push @m, $r4->{id};
ok ids_increasing(@m[1 .. 4]), "ids still increasing (@m[1 .. 4])";
ok pump_all(15, sub { !grep { n_msgs($_) < 4 } @MP, @SSE }), 'the open streams got m3 and m4';
my $resumed = ch_subscribe($pb, "/sub?id=$ch", headers => { 'Last-Event-ID' => $leaver_id });
is $resumed->status, 200, "the leaver resumes on B with m1's id: 200";
ok !defined $resumed->header('mxhr-history'), 'nothing lost';
push @MP, $resumed;
# A last message marks the end: anything twice would be before it.
push @m, publish_retry($pa, 'm5', 10)->{id};
ok pump_all(10, sub { !grep({ n_msgs($_) < 5 } @MP[0, 1], @SSE) && n_msgs($resumed) >= 4 }),
   'm5 came to all';
my $all = join ' ', map { "m$_=$m[$_]" } 1 .. 5;
is scalar(grep { got($_) eq $all } @MP[0, 1], @SSE), 4,
   'the four streams: m1 .. m5, each once, in order (none of the 503 ones)'
    or diag join "\n", map { got($_) } @MP, @SSE;
is got($resumed), join(' ', map { "m$_=$m[$_]" } 2 .. 5), 'the resumed one: m2 (published before the outage) .. m5';
my %up = map { $_ => wait_status($srv{$_}, 15, sub { ($_[0]{MxhrRedisConnected} // '') eq '1' }) } qw(A B);
is join(' ', map { $up{$_}{MxhrRedisConnected} // 'none' } qw(A B)), '1 1', 'MxhrRedisConnected: 1 again';
ok !grep({ ($up{$_}{MxhrRedisReconnects} // 0) <= ($st0{$_}{MxhrRedisReconnects} // 0) } qw(A B)),
   'MxhrRedisReconnects grew (' . join(', ', map { ($st0{$_}{MxhrRedisReconnects} // 'none') . ' to '
                                                   . ($up{$_}{MxhrRedisReconnects} // 'none') } qw(A B)) . ')';
ok wait_until(10, sub { !grep { count(qr/MXHR081/, log_since($srv{$_}, $off{$_})) < 1 } qw(A B) }),
   'MXHR081 logged';
my @e80 = map { count(qr/MXHR080/, log_since($srv{$_}, $off{$_})) } qw(A B);
my @e81 = map { count(qr/MXHR081/, log_since($srv{$_}, $off{$_})) } qw(A B);
is "@e80 / @e81", '1 1 / 1 1', 'for the whole outage, on A and on B: one MXHR080, one MXHR081'
    or diag mxhr08();
%off = map { $_ => length $srv{$_}->error_log } qw(A B);
# Redis is back: no publish may fail now, whatever connection it takes.
my @again = map { publish($_ % 2 ? $pa : $pb, "again$_") } 1 .. 20;
is join(' ', map { $_->{status} } @again), join(' ', (201) x 20),
   '20 publishes in a row on A and B once Redis is back (MXHR081, MxhrRedisConnected: 1): 201 each'
    or diag join("\n", map { "again$_: $again[$_ - 1]{status} $again[$_ - 1]{body}" } grep { $again[$_ - 1]{status} != 201 } 1 .. 20)
            . "\n" . mxhr08();
ok pump_all(10, sub { !grep { got($_) !~ /again20=\S+\z/ } @MP, @SSE }), 'the open streams got them';
%off = map { $_ => length $srv{$_}->error_log } qw(A B);

# ---- Redis answering nothing ----
$redis->pause;
my @hung = (publish($pa, 'hungA'), publish($pb, 'hungB'));
$redis->resume;
is join(' ', map { $_->{status} } @hung), '503 503', 'Redis stopped answering (SIGSTOP): a publish on A and B gets 503';
cmp_ok +($hung[0]{took} > $hung[1]{took} ? $hung[0]{took} : $hung[1]{took}), '<', $TIMEOUT + 1,
   sprintf 'within MxhrRedisTimeout + 1 s (%.2f s, %.2f s)', $hung[0]{took}, $hung[1]{took};
my $r6 = publish_retry($pa, 'm6', 15);
ok $r6->{status} == 201 || $r6->{status} == 202, 'after SIGCONT a publish succeeds';
push @m, $r6->{id};
ok pump_all(15, sub { !grep { got($_) !~ /\bm6=\Q$m[6]\E\z/ } @MP, @SSE }),
   'the open streams get it';
my @ghost = grep { got($_) =~ /hung/ } @MP, @SSE;
diag 'note: a publish answered 503 (Redis timeout) was delivered anyway to ' . scalar(@ghost) . ' streams'
    if @ghost;

# ---- Redis back without its data ----
my $last = $m[-1];
my ($epoch) = parse_id($last);
$redis->wipe_restart;
my $wiped = time;
ok pump_all(20, sub { !grep { is_open($_) } @MP, @SSE }), sprintf 'the open streams end (%.1f s)', time - $wiped;
is scalar(grep { !defined $_->{wire_error} } @MP), scalar(@MP), 'multipart: well-formed to the end';
my ($lm, $ls);
wait_until(15, sub {
    $lm->close if $lm;
    $lm = ch_subscribe($pa, "/sub?id=$ch", headers => { 'Last-Event-ID' => $last });
    $lm->status != 503;
});
is $lm->status, 200, 'a resume on A with the last id: 200';
is $lm->header('mxhr-history'), 'lost', 'Mxhr-History: lost';
wait_until(15, sub {
    $ls->close if $ls;
    $ls = sse_open($pb, "/sse?id=$ch", headers => { 'Last-Event-ID' => $last });
    $ls->status != 503;
});
is $ls->status, 200, 'an SSE resume on B: 200';
@MP = ($lm);
@SSE = ($ls);
my $rw = publish_retry($pa, 'w1', 10);
ok $rw->{status} == 201 || $rw->{status} == 202, 'a publish after the wipe succeeds';
my ($epoch2) = parse_id($rw->{id});
ok defined $epoch && defined $epoch2 && $epoch2 ne $epoch,
   'its id is of another epoch (' . ($epoch // 'none') . ', then ' . ($epoch2 // 'none') . ')';
ok pump_all(10, sub { n_msgs($lm) >= 1 && n_msgs($ls) >= 1 }), 'the resumed streams get it';
is got($lm), "w1=$rw->{id}", 'multipart: only w1';
is_deeply [ map { [ $_->{type}, $_->{data} ] } $ls->events ],
          [ [ 'mxhr-history-lost', 'lost' ], [ 'message', 'w1' ] ],
          'SSE: mxhr-history-lost, then w1';
$_->close for $lm, $ls;
diag sprintf 'outage test: %.1f s', time - $t0;
MxhrRedis::stop_servers($A, $B);
done_testing;
