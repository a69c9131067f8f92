# Server-sent events (issue 9), part 1: the test suite's own event-stream
# parser (t/lib/MxhrSse.pm, written to the HTML standard) checked against
# the standard's examples and rules; then the clock as an event stream,
# byte for byte and as a browser parses it, over HTTP/1.1 (chunked) and
# HTTP/1.0 (close-delimited), on the engine and on the blocking path;
# HEAD; retry; JSON; a section that cannot be made.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use MxhrTest qw(server_port mpm error_log_size error_log_since);
use MxhrSse;
use JSON::PP ();

plan tests => 42 + 2 * 37 + 13;

sub evs { [ map { [ $_->{type}, $_->{data}, $_->{last_event_id} ] } @_ ] }

# ---- The parser against the standard ---------------------------------

# The standard's examples (9.2.5, 9.2.6).
my $p = sse_parse("data: YHOO\ndata: +2\ndata: 10\n\n");
is_deeply evs($p->events), [ [ 'message', "YHOO\n+2\n10", '' ] ],
          'parser: data lines join with LF';
$p = sse_parse(": test stream\n\ndata: first event\nid: 1\n\n"
               . "data:second event\nid\n\ndata:  third event\n");
is_deeply evs($p->events), [ [ 'message', 'first event', '1' ],
                             [ 'message', 'second event', '' ] ],
          'parser: "id" alone resets the id; an event without its blank line is not dispatched';
is_deeply [ $p->comments ], [ ' test stream' ], 'parser: the comment';
ok $p->incomplete, 'parser: the third event is pending, discarded at the end';
$p = sse_parse("data\n\ndata\ndata\n\ndata:");
is_deeply evs($p->events), [ [ 'message', '', '' ], [ 'message', "\n", '' ] ],
          'parser: a data field without a value is an empty line of data';
$p = sse_parse("data:test\n\ndata: test\n\n");
is_deeply [ map { $_->{data} } $p->events ], [ 'test', 'test' ],
          'parser: one space after the colon is dropped, if there is one';
$p = sse_parse("data:  two\n\n");
is_deeply [ map { $_->{data} } $p->events ], [ ' two' ], 'parser: only one space';

# Line ends: CRLF, CR and LF, also split between two reads.
$p = sse_parse("data: a\r\ndata: b\rdata: c\n\r\n");
is_deeply [ map { $_->{data} } $p->events ], [ "a\nb\nc" ], 'parser: CRLF, CR, LF';
$p = sse_parse("data: a\r", "\n", "\r", "\ndata: b\r", "\r");
is_deeply [ map { $_->{data} } $p->events ], [ 'a', 'b' ],
          'parser: a CRLF split between reads is one line end';
$p = sse_parse("data: a\r\r\r\n");
is scalar($p->events), 1, 'parser: CR CR is two line ends (one event; the third is an empty block)';

# The byte order mark: dropped once, at the very start only.
$p = sse_parse("\xEF\xBB", "\xBFdata: x\n\n");
is_deeply [ map { $_->{data} } $p->events ], [ 'x' ], 'parser: a leading BOM is dropped';
$p = sse_parse("\xEF\xBB\xBF\xEF\xBB\xBFdata: x\n\n");
is scalar($p->events), 0, 'parser: a second BOM makes the field unknown';
$p = sse_parse("data: \xEF\xBB\xBFx\n\n");
is $p->events ? ($p->events)[0]{data} : '', "\x{FEFF}x", 'parser: a BOM inside data is data';

# UTF-8, also split inside a character; invalid bytes decode to U+FFFD.
$p = sse_parse("data: caf\xC3", "\xA9 \xE2\x9C", "\x93\n\n");
is $p->events ? ($p->events)[0]{data} : '', "caf\x{e9} \x{2713}", 'parser: UTF-8 across reads';
$p = sse_parse("data: a\xFFb\n\n");
is $p->events ? ($p->events)[0]{data} : '', "a\x{FFFD}b", 'parser: an invalid byte is U+FFFD';

# Event types, ids, retry, comments, unknown fields.
$p = sse_parse("event: add\ndata: 1\n\ndata: 2\n\n");
is_deeply [ map { $_->{type} } $p->events ], [ 'add', 'message' ],
          'parser: the type applies to its event only';
$p = sse_parse("event: add\n\ndata: x\n\n");
is_deeply [ map { $_->{type} } $p->events ], [ 'message' ],
          'parser: an event without data is not dispatched, and its type is forgotten';
$p = sse_parse("id: 7\ndata: a\n\ndata: b\n\nid: 8\n\n");
is_deeply evs($p->events), [ [ 'message', 'a', '7' ], [ 'message', 'b', '7' ] ],
          'parser: the last event id stays until set again';
is $p->last_event_id, '8', 'parser: an id without data still sets the last event id';
$p = sse_parse("id: a\x00b\ndata: x\n\n");
is $p->last_event_id, '', 'parser: an id with NUL is ignored';
$p = sse_parse("retry: 1500\n\nretry: 10a\n\nretry:  20\n\nretry: -5\n\n");
is $p->retry, 1500, 'parser: retry takes ASCII digits only';
is_deeply [ $p->retries ], [ 1500 ], 'parser: the others are ignored';
$p = sse_parse(":\n\n: hi\ndata: x\n\n");
is_deeply [ $p->comments ], [ '', ' hi' ], 'parser: comments';
is scalar($p->events), 1, 'parser: a comment and a blank line dispatch nothing';
$p = sse_parse("foo: bar\ndata: x\nData: y\n\n");
is_deeply [ map { $_->{data} } $p->events ], [ 'x' ], 'parser: unknown fields (and case) are ignored';
is_deeply [ map { $_->[0] } $p->fields ], [ 'foo', 'data', 'Data' ], 'parser: every field seen';
$p = sse_parse("data: a\n\n", "data: b\n");
is scalar($p->events), 1, 'parser: the unfinished event at the end is not dispatched';

# The contract's bytes for an event, and back through the parser: every
# kind of line end is one data line, and nothing in a body is a field.
is sse_event_bytes(id => '1-2', event => 'e', data => "a\r\nb\rc\nd"),
   "id: 1-2\nevent: e\ndata: a\ndata: b\ndata: c\ndata: d\n\n",
   'expected bytes: one data line per body line';
is sse_event_bytes(data => ''), "data: \n\n", 'expected bytes: an empty body is one empty line';
is sse_event_bytes(data => "x\n"), "data: x\ndata: \n\n", 'expected bytes: a final line end';
for my $body ("plain", "", "x\n", "\n\n", "a\r\nb\rc\nd", "\r\n", "a\r",
              "x\nid: y\nevent: z\nretry: 1\n\ndata: w", ": not a comment",
              " leading space", "caf\xC3\xA9") {
    my $want = $body =~ s/\r\n|\r/\n/gr;
    utf8::decode($want);
    my @e = sse_parse(sse_event_bytes(id => '9', data => $body))->events;
    is_deeply evs(@e), [ [ 'message', $want, '9' ] ],
              'expected bytes parse back: ' . (length $body ? '' : '(empty)') . (join '', map { sprintf '%%%02X', ord } split //, $body);
}
is MxhrSse::strip_heartbeats(":\n\ndata: a\n\n:\n\n:\n\ndata: b\n\n:\n"),
   "data: a\n\ndata: b\n\n:\n", 'strip_heartbeats';

# ---- The clock as an event stream --------------------------------------

# The exact bytes of a clock stream: section k is "id: k" and its time
# as data; then the closing event; retry first when set.
sub clock_checks {
    my ($s, $what, %o) = @_;
    my $n = $o{sections} // 3;
    is $s->status, 200, "$what: 200";
    is $s->header('content-type'), 'text/event-stream; charset=utf-8', "$what: Content-Type";
    is $s->header('cache-control'), 'no-cache, no-store', "$what: Cache-Control";
    ok !defined $s->header('content-length'), "$what: no Content-Length";
    ok $s->read_until(5), "$what: the stream ends";
    my @e = $s->events;
    my @times = map { $_->{data} } grep { $_->{type} eq 'message' } @e;
    is scalar(@times), $n, "$what: $n messages";
    like $times[$_] // '', $o{time} // qr/\A\d\d:\d\d:\d\d\.\d{3}\z/,
         "$what: message " . ($_ + 1) . ' is the time' for 0 .. $n - 1;
    is_deeply [ map { $_->{last_event_id} } grep { $_->{type} eq 'message' } @e ],
              [ 1 .. $n ], "$what: ids are the section numbers";
    is_deeply $e[-1], { type => 'mxhr-close', data => 'limit', last_event_id => $n },
              "$what: last, an mxhr-close event says why: limit";
    my $want = (defined $o{retry} ? "retry: $o{retry}\n\n" : '')
             . join('', map { sse_event_bytes(id => $_ + 1, data => $times[$_]) } 0 .. $n - 1)
             . sse_event_bytes(event => 'mxhr-close', data => 'limit');
    is $s->body, $want, "$what: exact bytes";
    is_deeply [ $s->parser->retries ], [ defined $o{retry} ? $o{retry} : () ],
              "$what: retry " . ($o{retry} // 'absent');
    ok !$s->parser->incomplete, "$what: nothing after the last event";
    ok !$s->chunk_error, "$what: chunk framing" . ($s->chunk_error ? ': ' . $s->chunk_error : '');
    return @times;
}

for my $vhost (undef, 'mxhr_sse_blocking') {
    my $port = server_port($vhost);
    my $where = $vhost ? 'blocking' : 'main';
    # HTTP/1.1: chunked, and the body ends with the last chunk.
    my $s = sse_open($port, '/sse/clock');
    clock_checks($s, "$where 1.1 auto");
    ok $s->chunked, "$where 1.1: chunked";
    like $s->wire, qr/\r\n0\r\n\r\n\z/, "$where 1.1: ends with the last chunk";
    is $s->after_last_chunk, '', "$where 1.1: nothing after it";
    like $s->header('vary') // '', qr/\bAccept\b/, "$where 1.1: Vary: Accept";
    ok $s->read_to_eof(3), "$where 1.1: then the connection closes";
    # HTTP/1.0: close-delimited, the same bytes.
    $s = sse_open($port, '/sse/clock/retry', proto => '1.0', accept => undef);
    clock_checks($s, "$where 1.0 forced", retry => 2000);
    ok !$s->chunked && !defined $s->header('transfer-encoding'),
       "$where 1.0: not chunked";
    ok !defined $s->header('vary'), "$where 1.0: MxhrFormat sse: no Vary";
}

# HEAD: the headers of an event stream, no body.
my $port = server_port();
my $s = sse_open($port, '/sse/clock', method => 'HEAD');
is $s->status, 200, 'HEAD: 200';
is $s->header('content-type'), 'text/event-stream; charset=utf-8', 'HEAD: event stream';
$s->read_to_eof(3);
is $s->body, '', 'HEAD: no body';

# MxhrSseRetry 0 in a nested location: no retry field.
$s = sse_open($port, '/sse/clock/retry/none');
ok $s->read_until(5), 'retry 0: the stream ends';
like $s->body, qr/\Aid: 1\ndata: /, 'retry 0: no retry field, the first event first';

# JSON sections: the JSON is the data.
$s = sse_open($port, '/sse/clock/json');
ok $s->read_until(5), 'JSON clock ends';
my @j = grep { $_->{type} eq 'message' } $s->events;
is scalar(@j), 3, 'JSON clock: 3 messages';
my @seq = map { my $d = eval { JSON::PP->new->decode($_->{data}) }; $d ? $d->{seq} : undef } @j;
is_deeply \@seq, [ 1, 2, 3 ], 'JSON clock: each data is the section as JSON';
ok !grep({ my $d = eval { JSON::PP->new->decode($_->{data}) }; !$d || $d->{time} !~ /\A\d{13}\z/ } @j),
   'JSON clock: epoch-ms times';

# A section that cannot be made: a 500, nothing sent, not even retry.
for my $proto ('1.1', '1.0') {
    my $off = error_log_size();
    $s = sse_open($port, '/sse/clock/too-long', proto => $proto);
    is $s->status, 500, "too long, HTTP/$proto: 500";
    $s->read_to_eof(3);
    unlike $s->body, qr/retry:/, "too long, HTTP/$proto: no event-stream bytes";
}
