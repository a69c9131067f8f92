# Server-sent events (issue 9), part 3: which framing a request gets.
# MxhrFormat auto: text/event-stream when Accept prefers it to both
# multipart types; a tie, or the star range alone, keeps multipart
# (multipart/mixed when Accept names it, else x-mixed-replace); Vary:
# Accept. MxhrFormat sse: an event stream whatever Accept says; other
# fixed formats never become one. For the clock and for a channel.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use MxhrTest qw(server_port);
use MxhrSse;

my $SSE = 'text/event-stream; charset=utf-8';
my ($MIXED, $REPLACE) = ('multipart/mixed', 'multipart/x-mixed-replace');

# [ Accept (undef: none), what it must get ]
my @cases = (
    [ 'text/event-stream', $SSE ],
    [ 'multipart/mixed', $MIXED ],
    [ 'text/event-stream;q=0.5, multipart/mixed', $MIXED ],
    [ 'multipart/mixed;q=0.1, text/event-stream', $SSE ],
    [ '*/*', $REPLACE ],
    [ undef, $REPLACE ],
    [ 'text/event-stream, multipart/mixed', $MIXED ],        # a tie
    [ 'multipart/mixed, text/event-stream', $MIXED ],        # a tie
    [ 'text/event-stream;q=0.5, multipart/mixed;q=0.5', $MIXED ],
    [ 'text/event-stream;q=0', $REPLACE ],
    [ 'text/event-stream;q=0, */*', $REPLACE ],
    [ 'text/event-stream, */*;q=0.1', $SSE ],
    [ 'text/event-stream;q=0.9, */*', $REPLACE ],           # */* ranks x-mixed-replace higher
    [ 'TEXT/Event-Stream', $SSE ],                          # types are case-insensitive
    [ 'text/event-stream; charset=utf-8', $SSE ],
    [ 'multipart/x-mixed-replace;q=0.9, text/event-stream', $SSE ],
    [ 'multipart/x-mixed-replace, text/event-stream;q=0.9', $REPLACE ],
    [ 'multipart/*, text/event-stream;q=0.5', $REPLACE ],
    [ 'multipart/*;q=0.5, text/event-stream', $SSE ],
    # What Chromium sends for a page, and for EventSource.
    [ 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,'
      . 'image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7', $REPLACE ],
);

# Forced formats: [ path, Accept, what it must get ]
my @forced = (
    [ '/sse/clock/force', 'multipart/mixed', $SSE ],
    [ '/sse/clock/force', '*/*', $SSE ],
    [ '/sse/clock/force', undef, $SSE ],
    [ '/sse/sub/force?c=%s', 'multipart/mixed', $SSE ],
    [ '/sse/sub/force?c=%s', 'text/event-stream;q=0', $SSE ],
    [ '/sse/sub/mixed?c=%s', 'text/event-stream', $MIXED ],
);

plan tests => 2 * 3 * @cases + 3 * @forced;

my $port = server_port();

# The framing of what arrived: the type, and that the body starts as
# that framing must (an event stream's first event or heartbeat; a
# multipart body's first delimiter).
sub check {
    my ($s, $want, $what, $first) = @_;
    my $ct = $s->header('content-type') // '';
    if ($want eq $SSE) {
        is $ct, $SSE, "$what: event stream";
        ok $s->wait_body($first, 3), "$what: and its body is one";
    }
    else {
        like $ct, qr{^\Q$want\E; boundary="(sse-b|sse-clock)"$}, "$what: $want";
        my ($b) = $ct =~ /boundary="([^"]+)"/;
        # The first part, or (a subscription with nothing to send yet)
        # the dash-boundary alone.
        ok $s->wait_body(qr/\A--\Q$b\E(?:\r\n|\z)/, 3), "$what: and its body is one";
    }
}

for my $c (@cases) {
    my ($accept, $want) = @$c;
    my $label = 'Accept ' . ($accept // '(none)');
    my $s = sse_open($port, '/sse/clock', accept => $accept);
    check($s, $want, "clock, $label", qr/\Aid: 1\ndata: /);
    like $s->header('vary') // '', qr/\bAccept\b/, "clock, $label: Vary: Accept";
    $s->close;
    my $ch = uniq_channel('acc');
    $s = sse_open($port, "/sse/sub?c=$ch", accept => $accept);
    check($s, $want, "channel, $label", qr/\A:\n\n/);
    like $s->header('vary') // '', qr/\bAccept\b/, "channel, $label: Vary: Accept";
    $s->close;
}

for my $f (@forced) {
    my ($path, $accept, $want) = @$f;
    $path = sprintf $path, uniq_channel('forced') if $path =~ /%s/;
    my $label = "$path, Accept " . ($accept // '(none)');
    my $s = sse_open($port, $path, accept => $accept);
    check($s, $want, $label, $path =~ /clock/ ? qr/\Aid: 1\ndata: / : qr/\A:\n\n/);
    ok !defined $s->header('vary'), "$label: no Vary (the format is fixed)";
    $s->close;
}
