# Redis mode (spec/redis.md): a graceful restart of server A
# (apache2 -k graceful) while server B, on the same Redis, publishes
# without a pause, as (A event, B prefork) and (A prefork, B event).
# A's subscribers (multipart and SSE, HTTP/1.1 and 1.0) see their
# stream end cleanly (closing delimiter; mxhr-close "restart"),
# reconnect to A with their last id, and in the end each has every
# message B acknowledged (201/202) exactly once, in order; B's own
# subscriber, never cut, has the same.
use strict;
use warnings FATAL => 'all';
use Test::More;
use POSIX ();
use Time::HiRes qw(time sleep);
use File::Temp qw(tempdir);
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrServer;
use MxhrChannel;
use MxhrSse qw(sse_open);
use MxhrRedis;

my $N = 150;            # messages B publishes, one every ~20 ms
my $redis = MxhrRedis->start;
my @pairs = (['event', 'prefork'], ['prefork', 'event']);

sub httpd {
    my $mpm = shift;
    return MxhrServer->start(mpm => $mpm, pool => MxhrRedis::pool_sizes($mpm), conf => $redis->httpd_conf);
}

# A client: its connections, one after the other, and what they got.
#   { kind => 'mp'|'sse', proto, port, path, conns => [...] }
sub connect_client {
    my ($c, $last) = @_;
    my %h = defined $last ? (headers => { 'Last-Event-ID' => $last }) : ();
    my $s;
    my $end = time + 10;
    # Refused, or a 503 from a child that is stopping: the moment of
    # the restart, not an answer.
    while (1) {
        $s = eval { $c->{kind} eq 'mp' ? ch_subscribe($c->{port}, $c->{path}, proto => $c->{proto}, %h)
                                       : sse_open($c->{port}, $c->{path}, proto => $c->{proto}, %h) };
        last if ($s && $s->status != 503) || time > $end;
        $s->close if $s;
        sleep 0.05;
    }
    push @{ $c->{conns} }, $s if $s;
    return $s;
}

sub conn_msgs {
    my $s = shift;
    return map { [ $_->{id} // '-', $_->{body} ] } $s->messages if $s->isa('MxhrChannel::Sub');
    return map { [ $_->{last_event_id}, $_->{data} ] } grep { $_->{type} !~ /\Amxhr-/ } $s->events;
}
sub got { my $c = shift; map { conn_msgs($_) } grep { $_ } @{ $c->{conns} } }
sub last_id { my @g = got($_[0]); @g ? $g[-1][0] : undef }
sub ended {
    my $s = shift;
    return $s->closed || $s->eof if $s->isa('MxhrChannel::Sub');
    return $s->ended;
}
sub cur { $_[0]{conns}[-1] }

# Reads every client's current connection for $secs or until $cond.
sub pump {
    my ($clients, $secs, $cond) = @_;
    my $end = time + $secs;
    while (1) {
        return 1 if $cond && $cond->();
        return 0 if time >= $end;
        my @live = grep { $_ && !ended($_) } map { cur($_) } @$clients;
        ch_pump_all([ grep { $_->isa('MxhrChannel::Sub') } @live ], 0.05);
        $_->read_until(0.02, sub { 0 }) for grep { $_->isa('MxhrSse::Conn') } @live;
        sleep 0.02 unless @live;
    }
}

for my $pair (@pairs) {
    my ($ma, $mb) = @$pair;
    my $t0 = time;
    my $A = httpd($ma);
    my $B = httpd($mb);
    my ($pa, $pb) = ($A->port, $B->port);
    my $what = "A $ma, B $mb";
    my $ch = uniq_name('grace');
    my @clients = map { { kind => $_->[0], proto => $_->[1], port => $pa,
                          path => "/$_->[2]?id=$ch", conns => [] } }
                  ['mp', '1.1', 'sub'], ['mp', '1.0', 'sub'], ['sse', '1.1', 'sse'], ['sse', '1.0', 'sse'];
    # Redis mode knows a channel from its first publish on (a
    # subscriber makes no keys): one first, so that GET answers.
    ch_request($pb, 'POST', "/pub?id=$ch", body => 'g0');
    my $onB = { kind => 'mp', proto => '1.1', port => $pb, path => "/sub?id=$ch", conns => [] };
    connect_client($_) for @clients, $onB;
    is scalar(grep { cur($_) && cur($_)->status == 200 } @clients, $onB), 5, "$what: 4 subscribers on A, 1 on B";
    ok wait_subscribers($pb, "/pub?id=$ch", 5, 5), "$what: B counts them";

    # The publisher: another process, so that it never waits for us.
    my $dir = tempdir(CLEANUP => 1);
    my $kid = fork // die "fork: $!";
    if (!$kid) {
        open my $out, '>', "$dir/log" or POSIX::_exit(1);
        $out->autoflush(1);
        for my $i (1 .. $N) {
            my $r = ch_request($pb, 'POST', "/pub?id=$ch", body => "g$i", timeout => 10);
            print $out join(' ', $r->{status}, ($r->{json} && $r->{json}{id}) // '-', "g$i"), "\n";
            sleep 0.02;
        }
        close $out;
        POSIX::_exit(0);
    }

    # A quarter in, A restarts gracefully.
    pump([ @clients, $onB ], 10, sub { !grep { got($_) < $N / 4 } @clients });
    my $before = join ' ', map { scalar got($_) } @clients;
    my @old = $A->children;
    my $out = `/usr/sbin/apache2 -d ${\ $A->dir} -f ${\ $A->dir}/httpd.conf -k graceful 2>&1`;
    is $?, 0, "$what: apache2 -k graceful on A (messages so far: $before)" or diag $out;

    # Every stream that ends reconnects with its last id, until the
    # publisher is done.
    my $gone = 0;
    my $end = time + 30;
    while (time < $end) {
        pump([ @clients, $onB ], 0.2);
        for my $c (@clients) {
            connect_client($c, last_id($c)) if !cur($c) || ended(cur($c));
        }
        $gone ||= waitpid($kid, POSIX::WNOHANG()) == $kid;
        last if $gone;
    }
    kill 'KILL', $kid unless $gone;
    waitpid $kid, 0 unless $gone;
    ok $gone, sprintf "$what: B published its $N messages (%.1f s)", time - $t0;

    my (@ack, %status);
    if (open my $in, '<', "$dir/log") {
        while (<$in>) {
            chomp;
            my ($st, $id, $body) = split / /, $_, 3;
            $status{$st}++;
            push @ack, [ $id, $body ] if $st == 201 || $st == 202;
        }
    }
    is scalar(@ack), $N, "$what: each acknowledged (201/202) by B while A restarted ("
       . join(', ', map { "$_: $status{$_}" } sort keys %status) . ')';
    ok ids_increasing(map { $_->[0] } @ack), "$what: their ids increase";

    # A last message marks the end: a message twice would come before it.
    my $r = ch_request($pb, 'POST', "/pub?id=$ch", body => 'end');
    push @ack, [ ($r->{json} && $r->{json}{id}) // '-', 'end' ];
    pump([ @clients, $onB ], 15, sub {
        for my $c (@clients) { connect_client($c, last_id($c)) if !cur($c) || ended(cur($c)) }
        !grep { my @g = got($_); !@g || $g[-1][1] ne 'end' } @clients, $onB });
    my $want = join ' ', map { "$_->[1]=$_->[0]" } @ack;
    for my $c (@clients, $onB) {
        my $name = ($c->{port} == $pa ? 'A' : 'B') . " $c->{kind} HTTP/$c->{proto}";
        my $n = @{ $c->{conns} };
        is join(' ', map { "$_->[1]=$_->[0]" } got($c)), $want,
           "$what: $name ($n connections): every acknowledged message once, in order"
            or diag 'got ' . scalar(got($c)) . ', want ' . scalar(@ack);
    }
    my @first = map { $_->{conns}[0] } @clients;
    is scalar(grep { $_->isa('MxhrChannel::Sub') ? $_->closed && !defined $_->{wire_error}
                   : ((($_->events)[-1] || {})->{type} // '') eq 'mxhr-close'
                     && ($_->events)[-1]{data} eq 'restart' } @first), 4,
       "$what: A's first streams ended cleanly (closing delimiter; mxhr-close: restart)";
    is scalar(grep { !defined $_->header('mxhr-history') } grep { $_ } map { @{ $_->{conns} }[1 .. $#{ $_->{conns} }] } @clients),
       scalar(map { @{ $_->{conns} }[1 .. $#{ $_->{conns} }] } @clients),
       "$what: no reconnection was told it lost history";
    is scalar(@{ $onB->{conns} }), 1, "$what: B's subscriber was never cut";
    ok !grep({ kill 0, $_ } @old) || wait_until(5, sub { !grep { kill 0, $_ } @old }),
       "$what: A's old children exited";
    $_ && $_->close for map { @{ $_->{conns} } } @clients, $onB;
    MxhrRedis::stop_servers($A, $B);
    diag sprintf '%s: %.1f s', $what, time - $t0;
}

done_testing;
