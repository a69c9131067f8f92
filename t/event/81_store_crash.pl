# The channel store when a child dies holding its lock. A child busy
# with the store (publishing 8 MB messages: a writer; or resuming
# through them: a reader) is caught holding the lock (SIGSTOP, then a
# publish elsewhere that waits), 6 subscribers come meanwhile (they wait
# on the lock too), then it is killed (SIGKILL). Afterwards:
# - the 6 subscribers get all of 20 new messages (issue 15, defect 9:
#   a store emptied under a subscribe made them skip every one);
# - the store is not emptied: ids keep their first half, and (when the
#   dead child was reading) what was published before in another
#   channel is all still there (defect 10: one crashed child emptied
#   every channel of every vhost);
# - the waiting publish and a new one are answered;
# - another child killed while the lock is held is replaced: the parent
#   never waits on the lock (defects 2 and 11).
# Under event and prefork.
use strict;
use warnings FATAL => 'all';
use Test::More;
use Time::HiRes qw(time sleep);
use POSIX ();
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrServer;
use MxhrChannel;
use MxhrTest qw(wait_until);

my $loc = <<'CONF';
MxhrStoreSize 64m
<Location /sub>
    SetHandler mxhr-stream
    MxhrChannel %{mxhr_arg:id}
    MxhrBoundary b
    MxhrHeartbeat 0
</Location>
<Location /pub>
    SetHandler mxhr-publish
    MxhrChannel %{mxhr_arg:id}
    MxhrMessageMaxSize 16m
    MxhrChannelHistory 1000
</Location>
<Location /pubbig>
    SetHandler mxhr-publish
    MxhrChannel big
    MxhrMessageMaxSize 16m
    MxhrChannelHistory 4
</Location>
CONF

# As many idle workers wanted as there can be: a dead child is always
# replaced.
my $event = { limit => 4, children => 4, threads => 16, min_spare => 64,
              max_spare => 80, workers => 64 };
my $prefork = { children => 16, min_spare => 16, max_spare => 20,
                limit => 16, workers => 16 };
my @cases = (
    ['event', 'writer', $event],
    ['event', 'reader', $event],
    ['prefork', 'writer', $prefork],
    ['prefork', 'reader', $prefork],
);
@cases = grep { "$_->[0] $_->[1]" =~ /$ENV{MXHR_81_CASES}/ } @cases if $ENV{MXHR_81_CASES};
plan tests => 9 * @cases;

my $BIG = 'x' x (8 << 20);

# A thread of the process is running now (the copies into and out of
# the store, under its lock, are what these children spend CPU on).
sub running {
    my $pid = shift;
    for my $f (glob "/proc/$pid/task/*/stat") {
        open my $fh, '<', $f or next;
        my $line = <$fh> // next;
        return 1 if $line =~ /\) R /;
    }
    return 0;
}

# A process of ours that keeps one child busy with the store until it
# is killed: publishing big messages, or resuming through them.
sub start_load {
    my ($port, $kind, $from) = @_;
    my $pid = fork // die "fork: $!";
    return $pid if $pid;
    $SIG{ALRM} = sub { POSIX::_exit(0) };
    alarm 120;
    while (1) {
        if ($kind eq 'writer') {
            ch_request($port, 'POST', '/pubbig', body => $BIG, timeout => 20);
        }
        else {
            my $s = eval { ch_subscribe($port, "/sub?id=big", lazy => 1,
                                        headers => { 'Last-Event-ID' => $from }) };
            # The child copies a whole 8 MB message out of the store
            # under the lock; what it sends is not wanted.
            $s->pump(5, sub { length $_[0]{body} > 65536 }) if $s;
            $s->close if $s;
        }
    }
}

# Stops the child that is busy with the store while it holds the lock:
# one running now is stopped, and a request elsewhere must then wait. Returns (its pid, the waiting publish's socket) or ().
sub catch_lock_holder {
    my ($srv, $port, $deadline) = @_;
    while (time < $deadline) {
        my ($busy) = grep { running($_) } $srv->children;
        if (!$busy) {
            sleep 0.002;
            next;
        }
        kill 'STOP', $busy;
        my $probe = ch_subscribe($port, '/pub?id=probe', lazy => 1);
        # A GET on the publisher: answered at once unless the lock is
        # held, if another child took it (one stopped in accept() may
        # have been woken for it, in vain).
        if (!$probe->pump(1.5, sub { $_[0]{headers} || $_[0]{eof} })) {
            my ($h) = holders($srv, $probe);
            return ($busy, $probe) if $h && $h != $busy;
        }
        $probe->close;
        kill 'CONT', $busy;
    }
    return ();
}

for my $case (@cases) {
    my ($mpm, $kind, $pool) = @$case;
    my $srv = MxhrServer->start(mpm => $mpm, pool => $pool, conf => $loc,
        # A child stopped holding the lock holds up the requests
        # that wait on it: the small pool fills meanwhile.
        expect_errors => [MxhrServer::pool_full()]);
    my $port = $srv->port;
    my $what = "$mpm, a $kind";

    # What must survive: 30 messages in channel keep.
    my @ids;
    for my $i (1 .. 30) {
        my $r = ch_request($port, 'POST', '/pub?id=keep', body => "k$i");
        push @ids, $r->{json} && $r->{json}{id} // "none-$i";
    }
    my $r = ch_request($port, 'POST', '/pubbig', body => $BIG, timeout => 20);
    my $from = $r->{json} && $r->{json}{id} // 'none';
    ch_request($port, 'POST', '/pubbig', body => $BIG, timeout => 20) for 1 .. 3;
    ch_request($port, 'POST', '/pub?id=live', body => "x$_") for 1 .. 40;

    my $load = start_load($port, $kind, $from);
    my ($victim, $probe) = catch_lock_holder($srv, $port, time + 40);
    kill 'KILL', $load;
    waitpid $load, 0;
    ok $victim, "$what: a child caught holding the store's lock"
        or diag "no child was seen holding the lock";

    # Another child dies meanwhile: the parent, which must not wait on
    # the store's lock (defects 2 and 11), replaces it.
    my %old = map { $_ => 1 } $srv->children;
    my ($busy) = $probe ? holders($srv, $probe) : ();
    my ($other) = grep { $_ != ($victim // 0) && $_ != ($busy // 0) } sort keys %old;
    kill 'KILL', $other if $other;
    ok $other && wait_until(10, sub { grep { !$old{$_} } $srv->children }),
       "$what: a child killed meanwhile is replaced (the parent does not wait on the lock)"
        or diag "killed " . ($other // 'none') . " (stopped $victim, probe in " . ($busy // '?')
                . '), children before: ' . join(' ', sort keys %old) . ', now: ' . join(' ', sort $srv->children);

    # Six subscribers come while the lock is held.
    my @subs = map { ch_subscribe($port, '/sub?id=live', lazy => 1) } 1 .. 6;
    sleep 0.3;
    kill 'KILL', $victim if $victim;
    ok $probe && $probe->pump(10, sub { $_[0]{headers} || $_[0]{eof} })
       && $probe->status > 0, "$what: the waiting request is answered"
        or diag 'probe: ' . ($probe ? 'status ' . $probe->status . ', eof ' . $probe->eof : 'none');
    eval { $_->_headers(10) } for @subs;
    ok wait_subscribers($port, '/pub?id=live', 6, 10), "$what: 6 subscribers counted";

    my ($ok, $store) = (0, '');
    for my $i (1 .. 20) {
        my $p = ch_request($port, 'POST', '/pub?id=live', body => "n$i");
        $ok++ if $p->{status} == 201;
        ($store) = ($p->{json}{id} // '') =~ /^(\d+)-/ if $p->{json};
    }
    is $ok, 20, "$what: 20 publishes answered 201";
    my ($before) = $ids[0] =~ /^(\d+)-/;
    is $store, $before, "$what: the store was not emptied (its id is the same)";
    my $want = join ',', map { "n$_" } 1 .. 20;
    ch_pump_all(\@subs, 10, sub { !grep { $_->messages < 20 } @subs });
    my @got = map { join ',', map { $_->{body} } $_->messages } @subs;
    is scalar(grep { $_ eq $want } @got), 6, "$what: each subscriber got all 20"
        or diag "got: " . join(' | ', map { scalar(() = /,/g) + (length ? 1 : 0) } @got);

    # Channel keep is whole, under the same ids (a dead reader costs
    # nothing; the writer's big messages would push keep's out of the
    # ring anyway, in time).
    my $again = $kind eq 'reader' && eval { ch_subscribe($port, '/sub?id=keep', headers => { 'Last-Event-ID' => $ids[0] }) };
    SKIP: { skip "$what: the writer's load evicts what is oldest", 1 if $kind ne 'reader';
    ok $again && !defined $again->header('mxhr-history') && $again->wait_messages(29, 5)
       && join(',', map { $_->{body} } $again->messages) eq join(',', map { "k$_" } 2 .. 30),
       "$what: the other channel kept all it had (resume from its first id, nothing lost)"
        or diag 'history: ' . ($again && ($again->header('mxhr-history') // 'kept')) . ', got '
                . ($again ? scalar($again->messages) : 'no stream');
    }
    $again->close if $again;
    $_->close for @subs;
    my $log = $srv->error_log;
    unlike $log, qr/Segmentation|\[core:(?:crit|emerg)\]|MXHR050/,
           "$what: nothing crashed but what was killed, the store was not emptied";
    $srv->stop;
}
