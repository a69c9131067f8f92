# Server-sent events (issue 9), part 2: channel messages as events, byte
# for byte and as a browser parses them. Bodies with every kind of line
# end, bodies that look like fields, empty bodies, UTF-8, bodies that
# are not UTF-8 (base64 under "<name>-base64"), named events
# (X-EventSource-Event), several channels (the channel is the event's
# name), heartbeats (comments), retry, the end on DELETE. Over HTTP/1.1
# and HTTP/1.0, on the engine and on the blocking path.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use MxhrTest qw(server_port);
use MxhrSse;
use MIME::Base64 qw(decode_base64);

# [ label, body, X-EventSource-Event or undef, base64 expected ]
my @bodies = (
    [ 'plain', 'hello', undef, 0 ],
    [ 'CRLF, CR and LF', "l1\r\nl2\rl3\nl4", undef, 0 ],
    [ 'empty', '', undef, 0 ],
    [ 'fields inside', "x\nid: forged\nevent: evil\nretry: 1\n\ndata: y\r\r\nid: 2", undef, 0 ],
    [ 'a lone CRLF', "\r\n", undef, 0 ],
    [ 'two LF', "\n\n", undef, 0 ],
    [ 'a final CR', "a\r", undef, 0 ],
    [ 'CR CR LF', "\r\r\n", undef, 0 ],
    [ 'a colon first', ": not a comment", undef, 0 ],
    [ 'spaces first', "  two spaces\n leading", undef, 0 ],
    [ 'UTF-8', "caf\xC3\xA9 \xE2\x9C\x93 \xF0\x9F\x8E\x89", undef, 0 ],
    [ 'a BOM first', "\xEF\xBB\xBFbom", undef, 0 ],
    [ 'NUL', "a\x00b", undef, 0 ],
    [ 'U+10FFFF', "\xF4\x8F\xBF\xBF", undef, 0 ],
    [ 'JSON', '{"a": [1, "x\\ny"]}', undef, 0 ],
    [ 'binary', "\xFF\xFE\x00bin", undef, 1 ],
    [ 'every byte', join('', map { chr } 0 .. 255, reverse 0 .. 255), undef, 1 ],
    [ 'overlong', "\xC0\xAF", undef, 1 ],
    [ 'a surrogate', "\xED\xA0\x80", undef, 1 ],
    [ 'beyond U+10FFFF', "\xF4\x90\x80\x80", undef, 1 ],
    [ 'a truncated sequence', "ok\xE2\x82", undef, 1 ],
    [ 'a lone continuation byte', "\x80", undef, 1 ],
    [ 'Latin-1', "caf\xE9", undef, 1 ],
    [ 'named', "a named\nevent", 'update', 0 ],
    [ 'named binary', "\x00\xFF", 'bin', 1 ],
    [ 'named with spaces and colons', 'n', 'a: b c', 0 ],
    [ 'large', join("\r\n", map { "line $_ " . ('x' x ($_ % 97)) } 1 .. 2000) . "\n", undef, 0 ],
);

my @paths = ([ undef, '1.1' ], [ undef, '1.0' ], [ 'mxhr_sse_blocking', '1.1' ]);
plan tests => @paths * (15 + 3 * @bodies) + 17 + 7 + 7;

# The data a browser must see: every line end an LF, decoded as UTF-8.
sub text_of {
    my $t = shift =~ s/\r\n|\r/\n/gr;
    utf8::decode($t) or die "not UTF-8";
    return $t;
}

sub publish {
    my ($port, $pub, $body, %h) = @_;
    my $r = http_request($port, 'POST', $pub, body => $body,
                         type => 'application/octet-stream', headers => \%h);
    return $r;
}

for my $path (@paths) {
    my ($vhost, $proto) = @$path;
    my $port = server_port($vhost);
    my $what = ($vhost ? 'blocking' : 'main') . " HTTP/$proto";
    my $ch = uniq_channel('bodies');
    my $pub = "/sse/pub?c=$ch";
    my $s = sse_open($port, "/sse/sub?c=$ch", proto => $proto);
    is $s->status, 200, "$what: 200";
    is $s->header('content-type'), 'text/event-stream; charset=utf-8', "$what: event stream";
    like $s->header('vary') // '', qr/\bAccept\b/, "$what: Vary: Accept";
    ok !defined $s->header('mxhr-history'), "$what: no Mxhr-History";
    ok $s->wait_body(qr/\A:\n\n/, 3), "$what: the first bytes are a heartbeat comment";
    ok wait_subscribers($port, $pub, 1, 5), "$what: subscribed";

    my ($want, @ids) = (q{});
    my $published = 0;
    for my $b (@bodies) {
        my ($label, $body, $event, $b64) = @$b;
        my $r = publish($port, $pub, $body, defined $event ? ('X-EventSource-Event' => $event) : ());
        $published++ if $r->{status} == 201;
        my $id = $r->{json} ? $r->{json}{id} : undef;
        push @ids, $id;
        my $name = $b64 ? ($event // 'message') . '-base64' : $event;
        $want .= sse_event_bytes(id => $id, event => $name,
                                 data => $b64 ? sse_base64_data($body) : $body);
    }
    is $published, scalar @bodies, "$what: every message published to one subscriber (201)";
    ok $s->wait_events(scalar @bodies, 10), "$what: every message arrived";
    my $del = http_request($port, 'DELETE', $pub);
    is $del->{status}, 200, "$what: DELETE";
    ok $s->read_until(5), "$what: the stream ends on DELETE";
    $want .= sse_event_bytes(event => 'mxhr-close', data => 'deleted');
    is strip_heartbeats($s->body), $want, "$what: the exact bytes";
    ok !$s->parser->incomplete && !$s->chunk_error,
       "$what: nothing after the last event, good framing";
    if ($proto eq '1.1') {
        like $s->wire, qr/\r\n0\r\n\r\n\z/, "$what: the last chunk";
    }
    else {
        ok $s->eof && !$s->chunked, "$what: the connection closes";
    }

    # As a browser sees it.
    my @e = $s->events;
    my $close = pop @e;
    is_deeply $close, { type => 'mxhr-close', data => 'deleted', last_event_id => $ids[-1] },
              "$what: the last event says the channel was deleted";
    for my $i (0 .. $#bodies) {
        my ($label, $body, $event, $b64) = @{ $bodies[$i] };
        my $e = $e[$i] // { type => '', data => '', last_event_id => '' };
        is $e->{type}, ($event // 'message') . ($b64 ? '-base64' : ''), "$what: $label: type";
        is $e->{last_event_id}, $ids[$i], "$what: $label: its id";
        if ($b64) {
            is decode_base64($e->{data}), $body, "$what: $label: base64 of the exact bytes";
        }
        else {
            is $e->{data}, text_of($body), "$what: $label: data";
        }
    }
    is $s->parser->retry, undef, "$what: no retry, not even from a body";
}

my $port = server_port();

# Several channels: the channel is the event's name, unless the
# publisher named it; one order, by id.
{
    my ($a, $b) = (uniq_channel('ma'), uniq_channel('mb'));
    my $s = sse_open($port, "/sse/sub?c=$a,$b");
    ok wait_subscribers($port, "/sse/pub?c=$a", 1, 5)
       && wait_subscribers($port, "/sse/pub?c=$b", 1, 5), 'multi: subscribed to both';
    my @pubs = ([ $a, 'one' ], [ $b, "two\r\nlines" ], [ $a, 'three', 'custom' ],
                [ $b, "\xFF" ], [ $a, "\xFE", 'n' ], [ $b, '' ]);
    my ($want, @ids) = (q{});
    for (@pubs) {
        my ($ch, $body, $event) = @$_;
        my $r = publish($port, "/sse/pub?c=$ch", $body,
                        defined $event ? ('X-EventSource-Event' => $event) : ());
        push @ids, $r->{json} ? $r->{json}{id} : '?';
    }
    ok $s->wait_events(scalar @pubs, 5), 'multi: six events';
    is_deeply [ map { $_->{type} } $s->events ],
              [ $a, $b, 'custom', "$b-base64", 'n-base64', $b ],
              'multi: named by channel, or by the publisher';
    is_deeply [ map { $_->{last_event_id} } $s->events ], \@ids, 'multi: ids in order';
    is_deeply [ map { $_->{data} } $s->events ],
              [ 'one', "two\nlines", 'three', '/w==', '/g==', '' ], 'multi: data';
    $want .= sse_event_bytes(id => $ids[$_], event => ($s->events)[$_]{type},
                             data => ($s->events)[$_]{type} =~ /-base64\z/
                                     ? sse_base64_data($pubs[$_][1]) : $pubs[$_][1])
        for 0 .. $#pubs;
    is strip_heartbeats($s->body), $want, 'multi: the exact bytes';
    # Deleting one channel ends the stream, which says so.
    is http_request($port, 'DELETE', "/sse/pub?c=$b")->{status}, 200, 'multi: DELETE one channel';
    ok $s->read_until(5), 'multi: the stream ends';
    is_deeply [ ($s->events)[-1] ], [ { type => 'mxhr-close', data => 'deleted',
                                        last_event_id => $ids[-1] } ],
              'multi: with mxhr-close: deleted';
    # A message of one channel alone: no name.
    my $one = uniq_channel('one');
    $s = sse_open($port, "/sse/sub?c=$one");
    ok wait_subscribers($port, "/sse/pub?c=$one", 1, 5), 'one channel: subscribed';
    publish($port, "/sse/pub?c=$one", 'x');
    ok $s->wait_events(1, 5), 'one channel: the event';
    like $s->body, qr/\A:\n\nid: \d+-\d+\ndata: x\n\n\z/, 'one channel: no event field';
    is_deeply [ map { $_->{type} } $s->events ], [ 'message' ], 'one channel: a message event';
    $s->close;
    # An event name at the longest allowed.
    $s = sse_open($port, "/sse/sub?c=$one");
    ok wait_subscribers($port, "/sse/pub?c=$one", 1, 5), '255: subscribed';
    my $r = publish($port, "/sse/pub?c=$one", 'long name', 'X-EventSource-Event' => 'e' x 255);
    is $r->{status}, 201, '255: an event name of 255 bytes is taken';
    ok $s->wait_events(1, 5), '255: the event';
    is_deeply [ map { $_->{type} } $s->events ], [ 'e' x 255 ], '255: its name';
    $s->close;
}

# Heartbeats are comments: an idle stream sends ":" lines, no event.
{
    my $ch = uniq_channel('hb');
    my $s = sse_open($port, "/sse/sub/hb?c=$ch");
    ok $s->read_until(4, sub { $_[0]->body =~ /\A(?::\n\n){3}/ }),
       'heartbeat: three comments within 4s (one at once, then each second)';
    like $s->body, qr/\A(?::\n\n)+\z/, 'heartbeat: nothing else';
    is scalar($s->events), 0, 'heartbeat: no event dispatched';
    ok !grep({ $_ ne '' } $s->parser->comments), 'heartbeat: empty comments';
    publish($port, "/sse/pub?c=$ch", 'after beats');
    ok $s->wait_events(1, 5), 'heartbeat: then a message';
    is_deeply [ map { $_->{data} } $s->events ], [ 'after beats' ], 'heartbeat: the message';
    ok !$s->parser->incomplete, 'heartbeat: every block complete';
    $s->close;
}

# retry: once, first.
{
    my $ch = uniq_channel('retry');
    my $s = sse_open($port, "/sse/sub/retry?c=$ch");
    ok $s->wait_body(qr/\n\n:\n\n/, 3), 'retry: the stream opens';
    like $s->body, qr/\Aretry: 2500\n\n:\n\n\z/, 'retry: the field, then the heartbeat';
    is $s->parser->retry, 2500, 'retry: 2500 ms as a browser reads it';
    ok wait_subscribers($port, "/sse/pub?c=$ch", 1, 5), 'retry: subscribed';
    my $r = publish($port, "/sse/pub?c=$ch", "r1");
    publish($port, "/sse/pub?c=$ch", "r2");
    ok $s->wait_events(2, 5), 'retry: two events';
    is scalar($s->parser->retries), 1, 'retry: sent once';
    like $s->body, qr/\Aretry: 2500\n\n:\n\nid: \Q$r->{json}{id}\E\ndata: r1\n\n/,
         'retry: the events follow';
    $s->close;
}
