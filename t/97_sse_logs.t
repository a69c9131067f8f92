# Server-sent events (issue 9), part 7: "the same access log as
# multipart". A stream that keeps its request (always off the event
# MPM's engine; MxhrKeepRequest On on it) is logged when it ends with
# status 200 and its body bytes (%B: chunk framing is not body); on the
# engine the access log has the first section's bytes and the error
# log's MXHR024 line the true end with every body byte.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use MxhrTest qw(server_port mpm error_log_size error_log_since);
use MxhrSse;

my $engine = mpm() eq 'event';

plan tests => 4 * 3 + ($engine ? 1 : 0) + 2 * 3;

# The access log line that matches $re.
sub access_line {
    my $re = shift;
    my $log = Apache::Test::vars('t_logs') . '/mxhr_access.log';
    for (1 .. 30) {
        open my $fh, '<', $log or last;
        my ($line) = grep { $_ =~ $re } <$fh>;
        return $line if $line;
        select undef, undef, undef, 0.1;
    }
    return '';
}

sub end_line {
    my ($offset, $id) = @_;
    for (1 .. 30) {
        my ($end) = error_log_since($offset) =~ /(MXHR024: stream end: "GET [^"]*\Q$id\E" .*)/;
        return $end if $end;
        select undef, undef, undef, 0.1;
    }
    return '';
}


# Clock streams: kept requests, HTTP/1.1 and 1.0, main and blocking.
for my $c ([ undef, '/sse/clock/kept', '1.1', 1 ], [ undef, '/sse/clock/kept', '1.0', 1 ],
           [ 'mxhr_sse_blocking', '/sse/clock', '1.1', 1 ],
           [ undef, '/sse/clock', '1.1', !$engine ]) {
    my ($vhost, $path, $proto, $kept) = @$c;
    my $id = sprintf 'id=%d%d', $$, int(rand 1e9);
    my $what = ($vhost ? 'blocking ' : '') . "$path HTTP/$proto";
    my $off = error_log_size();
    my $s = sse_open(server_port($vhost), "$path?$id", proto => $proto);
    ok $s->read_until(5), "$what: the stream ends";
    my $bytes = length $s->body;
    my $line = access_line(qr{^GET \Q$path?$id\E });
    if ($kept) {
        like $line, qr{^GET \Q$path?$id\E HTTP/\Q$proto\E 200 \d+$}, "$what: logged with 200";
        my ($b) = $line =~ / (\d+)$/;
        is $b, $bytes, "$what: with its $bytes body bytes";
    }
    else {
        my ($first) = $line =~ m{^GET \Q$path?$id\E HTTP/1\.1 200 (\d+)$};
        ok defined $first && $first > 0 && $first < $bytes,
           "$what: on the engine, logged with 200 after the first section";
        my $end = end_line($off, $id);
        like $end, qr/ \d+ sections, $bytes bytes, \d+ ms: limit reached/,
             "$what: MXHR024 has its $bytes body bytes";
        # MxhrMaxSections 3: three sections, as multipart says (the
        # closing event is no more a section than the closing delimiter).
        like $end, qr/ 3 sections, /, "$what: MXHR024 counts its 3 sections";
    }
}

# A subscription ended by DELETE.
for my $proto ('1.1', '1.0') {
    my $ch = uniq_channel('log');
    my $off = error_log_size();
    my $s = sse_open(server_port(), "/sse/sub?c=$ch", proto => $proto);
    wait_subscribers(server_port(), "/sse/pub?c=$ch", 1, 5);
    http_request(server_port(), 'POST', "/sse/pub?c=$ch", body => "logged\nmessage");
    $s->wait_events(1, 5);
    http_request(server_port(), 'DELETE', "/sse/pub?c=$ch");
    ok $s->read_until(5), "subscription HTTP/$proto: ends";
    my $bytes = length $s->body;
    if ($engine) {
        like access_line(qr{^GET /sse/sub\?c=\Q$ch\E }), qr{^GET /sse/sub\?c=\Q$ch\E HTTP/\Q$proto\E 200 \d+$},
             "subscription HTTP/$proto: logged with 200";
        like end_line($off, $ch), qr/ sections, $bytes bytes, \d+ ms: limit reached/,
             "subscription HTTP/$proto: MXHR024 has its $bytes body bytes";
    }
    else {
        like access_line(qr{^GET /sse/sub\?c=\Q$ch\E }), qr{^GET /sse/sub\?c=\Q$ch\E HTTP/\Q$proto\E 200 $bytes$},
             "subscription HTTP/$proto: logged at its end with 200 and its $bytes bytes";
        pass "subscription HTTP/$proto: (no engine, no MXHR024)";
    }
}
