# Channels through a graceful restart, under event, worker and prefork:
# the subscriptions end with their closing delimiter, the store
# survives, a message published while the server restarts is not
# missed by subscribers reconnecting with their last id. A full stop
# loses the store: the next one's ids are larger, an old id is "lost".
use strict;
use warnings FATAL => 'all';
use Test::More;
use Time::HiRes qw(time sleep);
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrServer;
use MxhrChannel;

my $loc = <<'CONF';
GracefulShutdownTimeout 30
<Location /sub>
    SetHandler mxhr-stream
    MxhrChannel room
    MxhrBoundary b
</Location>
<Location /pub>
    SetHandler mxhr-publish
    MxhrChannel room
</Location>
CONF

# Room for a new generation beside the old one.
my @cases = (
    ['event', { children => 2, threads => 10, limit => 4 }],
    ['worker', { children => 2, threads => 10, limit => 4, max_spare => 40 }],
    ['prefork', { children => 4, min_spare => 2, max_spare => 16, limit => 16 }],
);
plan tests => 17 * @cases;

# Retries through the restart: a connection refused, or a 503 from a
# stopping child, is the moment, not an answer.
sub retry {
    my ($what, $try) = @_;
    my $end = time + 5;
    while (1) {
        my $r = eval { $try->() };
        my $st = !$r ? 0 : ref $r eq 'HASH' ? $r->{status} : $r->status;
        return $r if $st && $st != 503;
        return $r if time > $end;
        $r->close if $r && ref $r ne 'HASH';
        sleep 0.05;
    }
}

sub bodies { join ',', map { $_->{body} } $_[0]->messages }

for my $case (@cases) {
    my ($mpm, $pool) = @$case;
    my $srv = MxhrServer->start(mpm => $mpm, pool => $pool, conf => $loc,
                               expect_errors => [MxhrServer::blocking_pool_full($mpm)]);
    my $port = $srv->port;
    my @subs = map { ch_subscribe($port, '/sub', proto => $_ % 2 ? '1.0' : '1.1') } 1 .. 3;
    ok wait_subscribers($port, '/pub', 3), "$mpm: three subscribers";
    my $r = ch_request($port, 'POST', '/pub', body => 'before');
    is $r->{status}, 201, "$mpm: 'before' published";
    my $id1 = $r->{json} && $r->{json}{id};
    ch_pump_all(\@subs, 3, sub { !grep { $_->messages < 1 } @subs });
    is scalar(grep { bodies($_) eq 'before' } @subs), 3, "$mpm: all got it";

    my @old = $srv->children;
    my $t0 = time;
    kill 'USR1', $srv->pid;
    ch_pump_all(\@subs, 5, sub { !grep { !$_->closed } @subs });
    my $took = time - $t0;
    is scalar(grep { $_->closed } @subs), 3,
       sprintf "$mpm: graceful restart: every stream ended with --b-- (%.2fs)", $took;
    cmp_ok $took, '<', 2, "$mpm: within 2 s";
    is scalar(grep { my @p = $_->mime;
                     @p == scalar(my @q = $_->parts)
                     && 1 == grep { !defined $_->{heartbeat} } @p } @subs), 3,
       "$mpm: each a complete multipart body (MIME::Parser), the message in it";
    my $last = (($subs[0]->messages)[0] || {})->{id} // 'none';
    $_->close for @subs;

    # Published while the restart goes on.
    $r = retry('publish', sub { ch_request($port, 'POST', '/pub', body => 'during') });
    is $r->{status}, 202, "$mpm: 'during' published while restarting, nobody subscribed: 202";
    my $id2 = $r->{json} && $r->{json}{id};
    ok defined $id1 && defined $id2 && ((parse_id($id1))[0] // 'x') eq ((parse_id($id2))[0] // 'y'),
       "$mpm: the same store (" . ($id1 // 'none') . ', ' . ($id2 // 'none') . ')';

    @subs = map { my $p = $_; retry('subscribe', sub {
        ch_subscribe($port, '/sub', proto => $p % 2 ? '1.0' : '1.1',
                     headers => { 'Last-Event-ID' => $last }) }) } 1 .. 3;
    is scalar(grep { $_ && $_->status == 200 } @subs), 3, "$mpm: reconnected with the last id";
    is scalar(grep { !defined $_->header('mxhr-history') } @subs), 3, "$mpm: nothing lost";
    ok wait_subscribers($port, '/pub', 3), "$mpm: subscribed in the new generation";
    $r = ch_request($port, 'POST', '/pub', body => 'after');
    is $r->{status}, 201, "$mpm: 'after' published: 201";
    ch_pump_all(\@subs, 3, sub { !grep { $_->messages < 2 } @subs });
    is scalar(grep { bodies($_) eq 'during,after' } @subs), 3,
       "$mpm: each got what was published during the restart, then the new one";
    ok !grep({ kill 0, $_ } @old) || wait_until(5, sub { !grep { kill 0, $_ } @old }),
       "$mpm: the old children exited";
    $_->close for @subs;

    # A full stop: the store is gone.
    my $old_store = (parse_id($id2 // ''))[0] // 0;
    $srv->stop;
    $srv = MxhrServer->start(mpm => $mpm, pool => $pool, conf => $loc,
                               expect_errors => [MxhrServer::blocking_pool_full($mpm)]);
    $port = $srv->port;
    is ch_request($port, 'GET', '/pub')->{status}, 404, "$mpm: after a full stop the channel is gone";
    my $s = ch_subscribe($port, '/sub', headers => { 'Last-Event-ID' => $id2 // 'none' });
    is $s->header('mxhr-history'), 'lost', "$mpm: an id of the old store: Mxhr-History: lost";
    wait_subscribers($port, '/pub', 1);
    $r = ch_request($port, 'POST', '/pub', body => 'new store');
    my $new_store = (parse_id($r->{json} && $r->{json}{id} // ''))[0] // 0;
    ok $new_store > $old_store && $s->wait_messages(1, 3),
       "$mpm: a new store with a larger number ($old_store, then $new_store), and it streams";
    $s->close;
    $srv->stop;
}
