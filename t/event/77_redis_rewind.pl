# Redis mode: a Redis that comes back without its last writes (an RDB
# snapshot restored after a crash, a failover to a replica that lagged)
# has its counter behind what the servers saw. Were its ids taken as
# they come, one id would name two messages, and a client resuming
# from the newer one would skip the messages published after the crash.
# The servers see the counter behind theirs and start a new epoch:
# - the open stream ends, and its resume is told it lost history;
# - the messages published after the crash reach it, with ids of the
#   new epoch, none equal to an id handed out before.
# Under A (event) and B (prefork) on one Redis that writes nothing but
# what an explicit SAVE does.
use strict;
use warnings FATAL => 'all';
use Test::More;
use Time::HiRes qw(time sleep);
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrServer;
use MxhrChannel;
use MxhrRedis;

my $redis = MxhrRedis->start(rdb => 1);
# Redis crashes on purpose: MXHR080 says it went away.
my $A = MxhrServer->start(mpm => 'event', expect_errors => [qr/MXHR080/],
                          pool => MxhrRedis::pool_sizes('event'), conf =>
                          $redis->httpd_conf(heartbeat => '1s'));
my $B = MxhrServer->start(mpm => 'prefork', expect_errors => [qr/MXHR080/],
                          pool => MxhrRedis::pool_sizes('prefork'), conf =>
                          $redis->httpd_conf(heartbeat => '1s'));
my $ch = uniq_name('rewind');
my $pub = "/pub?id=$ch";

sub publish {
    my ($port, $body) = @_;
    my $r = ch_request($port, 'POST', $pub, body => $body, type => 'text/plain');
    return $r->{json} ? $r->{json}{id} : "($r->{status})";
}
sub ids { map { $_->{id} } $_[0]->messages }

publish($A->port, 'p0');
my $sub = ch_subscribe($B->port, "/sub?id=$ch");
ok wait_subscribers($A->port, $pub, 1, 5), 'one subscriber, on B';
my @before = (publish($A->port, 'p1'), publish($A->port, 'p2'));
is $redis->cli('SAVE'), 'OK', 'Redis saved (p0..p2)';
push @before, publish($A->port, 'p3'), publish($A->port, 'p4');
ok $sub->wait_messages(4, 5), 'the subscriber got p1..p4';
is join(' ', ids($sub)), join(' ', @before), '... with the ids the publisher was told';
my $last = (ids($sub))[-1];

my %rc0 = map { $_->port => status_auto($_->port)->{MxhrRedisReconnects} // 0 } $A, $B;
$redis->crash_restart;
is $redis->cli('GET', 'mxhr:seq'), '3', 'Redis came back with its counter at p2 (the SAVE)';
# Both servers reconnected (their readers compare counters then).
ok wait_until(10, sub {
    !grep { (status_auto($_->port)->{MxhrRedisReconnects} // 0) <= $rc0{$_->port} } $A, $B
}), 'A and B reconnected to Redis';
ok wait_until(10, sub { $sub->pump(0.1); $sub->eof }), "the stream on B ended (its store's ids are void)";
like $A->error_log . $B->error_log, qr/MXHR083/, 'a new epoch is logged';

my @after;
ok wait_until(10, sub { my $id = publish($A->port, 'p5'); push @after, $id if $id !~ /^\(/; @after }),
   'publishes go on';
push @after, publish($B->port, 'p6');
my %seen = map { $_ => 1 } @before;
ok !(grep { $seen{$_} } @after), "no id is handed out twice (before: @before; after: @after)";
my ($e_before) = $before[0] =~ /^(\d+)-/;
my ($e_after) = ($after[0] // '') =~ /^(\d+)-/;
isnt $e_after // '', $e_before, 'the ids after are of a new epoch';

my $back = ch_subscribe($A->port, "/sub?id=$ch", headers => { 'Last-Event-ID' => $last });
is $back->header('mxhr-history'), 'lost', 'the resume from p4 is told it lost history';
# Everything Redis keeps comes (p0..p2 from the snapshot, then p5, p6):
# read until p6, however the bytes are split.
ok $back->pump(5, sub { grep { $_->{body} eq 'p6' } $_[0]->messages }),
   'and gets what Redis keeps, up to p6';
my @bodies = map { $_->{body} } $back->messages;
is_deeply [ @bodies[-2, -1] ], [ 'p5', 'p6' ], '... p5 and p6 last, none skipped';

MxhrRedis::stop_servers($A, $B);
done_testing;
