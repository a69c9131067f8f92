# Server-sent events (issue 9) through a graceful restart and a full
# stop, under event, worker and prefork, over HTTP/1.1, HTTP/1.0 and h2c
# (not prefork): each event stream says "mxhr-close: restart" and ends
# cleanly (the last chunk; the connection closed; curl done); the store
# survives, so reconnecting with the last id (what EventSource sends)
# gets exactly what was published meanwhile; after a full stop the same
# id gets the mxhr-history-lost event first.
use strict;
use warnings FATAL => 'all';
use Test::More;
use Time::HiRes qw(time sleep);
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrServer;
use MxhrSse;

my $loc = <<'CONF';
GracefulShutdownTimeout 30
<Location /sub>
    SetHandler mxhr-stream
    MxhrChannel "%{mxhr_arg:c}"
    MxhrSseRetry 500ms
</Location>
<Location /pub>
    SetHandler mxhr-publish
    MxhrChannel "%{mxhr_arg:c}"
</Location>
CONF

# Room for a new generation beside the old one.
my @cases = (
    ['event', { children => 2, threads => 10, limit => 4 }],
    ['worker', { children => 2, threads => 10, limit => 4, max_spare => 40 }],
    ['prefork', { children => 4, min_spare => 2, max_spare => 16, limit => 16 }],
);
plan tests => 3 * 18 + 2 * 4;

# Retries through the restart: a refused connection or a 503 from a
# stopping child is the moment, not the answer.
sub retry {
    my $try = shift;
    my $end = time + 5;
    while (1) {
        my $r = eval { $try->() };
        my $st = !$r ? 0 : ref $r eq 'HASH' ? $r->{status} : $r->status;
        return $r if ($st && $st != 503) || time > $end;
        $r->close if $r && ref $r ne 'HASH';
        sleep 0.05;
    }
}

sub publish {
    my ($port, $ch, $body) = @_;
    my $r = retry(sub { http_request($port, 'POST', "/pub?c=$ch", body => $body) });
    return $r->{json} ? $r->{json}{id} : "($r->{status})";
}

for my $case (@cases) {
    my ($mpm, $pool) = @$case;
    my $h2 = $mpm ne 'prefork';
    my $srv = MxhrServer->start(mpm => $mpm, pool => $pool, conf => $loc, http2 => $h2,
                                expect_errors => [MxhrServer::blocking_pool_full($mpm)]);
    my $port = $srv->port;
    my $ch = uniq_channel("g-$mpm");
    my @subs = map { sse_open($port, "/sub?c=$ch", proto => $_) } '1.1', '1.0';
    my $curl;
    if ($h2) {
        open $curl, '-|', 'curl', '-sS', '-N', '--max-time', '15', '--http2-prior-knowledge',
             '-H', 'Accept: text/event-stream', "http://127.0.0.1:$port/sub?c=$ch"
            or die "curl: $!";
        binmode $curl;
    }
    my $n = @subs + ($h2 ? 1 : 0);
    ok wait_subscribers($port, "/pub?c=$ch", $n, 5), "$mpm: $n subscribers";
    my @a = map { publish($port, $ch, "a$_\r\nsecond line") } 1 .. 2;
    my $got = grep { $_->wait_events(2, 5) } @subs;
    is $got, 2, "$mpm: both messages on HTTP/1.1 and 1.0";

    my $t0 = time;
    ok kill('USR1', $srv->pid), "$mpm: graceful restart";
    my $ended = grep { $_->read_until(5) } @subs;
    my $took = time - $t0;
    is $ended, 2, "$mpm: both streams end";
    cmp_ok $took, '<', 2, sprintf "$mpm: at once (%.2fs)", $took;
    for my $s (@subs) {
        my $v = $s->chunked ? '1.1' : '1.0';
        is_deeply [ map { [ $_->{type}, $_->{data}, $_->{last_event_id} ] } $s->events ],
                  [ [ 'message', "a1\nsecond line", $a[0] ], [ 'message', "a2\nsecond line", $a[1] ],
                    [ 'mxhr-close', 'restart', $a[1] ] ],
                  "$mpm HTTP/$v: the messages, then mxhr-close: restart";
        ok !$s->parser->incomplete && !$s->chunk_error, "$mpm HTTP/$v: a clean end";
    }
    like $subs[0]->wire, qr/\r\n0\r\n\r\n\z/, "$mpm HTTP/1.1: the last chunk";
    ok $subs[1]->read_to_eof(3), "$mpm HTTP/1.0: the connection closes";
    if ($h2) {
        my $out = do { local $/; <$curl> } // '';
        close $curl;
        is $? >> 8, 0, "$mpm h2: curl completes" or diag $out;
        my $p = sse_parse($out);
        is_deeply [ map { [ $_->{type}, $_->{last_event_id} ] } $p->events ],
                  [ [ 'message', $a[0] ], [ 'message', $a[1] ], [ 'mxhr-close', $a[1] ] ],
                  "$mpm h2: the messages, then mxhr-close";
    }
    else {
        pass "$mpm: (no HTTP/2 under prefork)" for 1 .. 2;
    }

    # Published while nobody is connected; then back with the last id.
    my @b = map { publish($port, $ch, "b$_") } 1 .. 2;
    like $b[1], qr/\A\d+-\d+\z/, "$mpm: published during the restart";
    my $last = $subs[0]->parser->last_event_id;
    is $last, $a[1], "$mpm: the id a browser would resume from";
    my $s = retry(sub { sse_open($port, "/sub?c=$ch", headers => { 'Last-Event-ID' => $last }) });
    ok $s->wait_events(2, 5), "$mpm: resumed";
    ok !defined $s->header('mxhr-history'), "$mpm: nothing lost";
    is strip_heartbeats($s->body), "retry: 500\n\n" . join('', map {
        sse_event_bytes(id => $b[$_], data => "b" . ($_ + 1)) } 0 .. 1),
       "$mpm: exactly what was missed";
    $s->close;

    # A full stop empties the store: the same id is lost history.
    if ($mpm ne 'prefork') {
        $srv->stop;
        my $out = `/usr/sbin/apache2 -d ${\ $srv->dir} -f ${\ $srv->dir}/httpd.conf -k start 2>&1`;
        $srv->{pid} = wait_until(5, sub { my $p = $srv->pid; $p && kill(0, $p) && $p });
        ok $srv->{pid}, "$mpm: started again after a full stop" or diag $out;
        $s = retry(sub { sse_open($port, "/sub?c=$ch", headers => { 'Last-Event-ID' => $b[1] }) });
        is $s->header('mxhr-history'), 'lost', "$mpm: Mxhr-History: lost";
        my $c1 = do { wait_subscribers($port, "/pub?c=$ch", 1, 5); publish($port, $ch, 'c1') };
        ok $s->wait_events(2, 5), "$mpm: two events";
        is_deeply [ map { [ $_->{type}, $_->{data}, $_->{last_event_id} ] } $s->events ],
                  [ [ 'mxhr-history-lost', 'lost', '' ], [ 'message', 'c1', $c1 ] ],
                  "$mpm: mxhr-history-lost first, then the new message";
        $s->close;
    }
    $srv->stop;
}
