# Server-sent events (issue 9), part 5: the publisher's event name
# (X-EventSource-Event, as nchan takes it). 1 to 255 bytes without CR or
# LF, else 400 and nothing stored; what clients cannot send (CR or LF
# inside a header) is tried on a raw socket: it never becomes a field of
# its own. And an event stream is UTF-8 (its Content-Type says so):
# event names that are not UTF-8, from the publisher or from a channel
# id, must not put invalid UTF-8 on the wire.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use MxhrTest qw(server_port);
use MxhrSse;

plan tests => 6 + 4 + 3 * 4 + 8 + 8;

my $port = server_port();

sub raw_publish {
    my ($path, $header_lines, $body) = @_;
    return http_raw($port, "POST $path HTTP/1.1\r\nHost: 127.0.0.1:$port\r\n"
                    . "Connection: close\r\n$header_lines"
                    . "Content-Length: " . length($body) . "\r\n\r\n$body");
}

sub valid_utf8 {
    my $b = shift;
    return utf8::decode($b) && $b !~ /[\x{D800}-\x{DFFF}]/ ? 1 : 0;
}

# Refused: too long, empty. Nothing stored (the channel is not even made).
for my $c ([ 'e' x 256, '256 bytes' ], [ '', 'empty' ]) {
    my ($name, $what) = @$c;
    my $ch = uniq_channel('bad');
    my $r = http_request($port, 'POST', "/sse/pub?c=$ch", body => 'x',
                         headers => { 'X-EventSource-Event' => $name });
    is $r->{status}, 400, "$what: 400";
    like $r->{body}, qr/X-EventSource-Event/, "$what: the body names the header";
    is channel_info($port, "/sse/pub?c=$ch"), undef, "$what: nothing stored";
}

# A subscriber that watches what the raw requests below become.
my $ch = uniq_channel('raw');
my $pub = "/sse/pub?c=$ch";
my $s = sse_open($port, "/sse/sub?c=$ch");
ok wait_subscribers($port, $pub, 1, 5), 'raw: subscribed';
my $r = raw_publish($pub, "X-EventSource-Event: ok\r\n", 'fine');
is $r->{status}, 201, 'raw: a plain name is taken';
ok $s->wait_events(1, 5), 'raw: its event';
is_deeply [ map { $_->{type} } $s->events ], [ 'ok' ], 'raw: named';

# CR or LF inside the value, every way a raw request can carry them.
# httpd itself refuses a bare CR (400); a folded line arrives unfolded;
# a bare LF ends the header line. Whatever the answer, no field of the
# subscriber's stream may come from the name.
my $before = () = $s->events;
my $accepted = 0;
for my $c ([ "X-EventSource-Event: a\rid: 666\r\n", 'a bare CR' ],
           [ "X-EventSource-Event: b\r\n id: 667\r\n", 'a folded line' ],
           [ "X-EventSource-Event: c\nid: 668\r\n", 'a bare LF' ]) {
    my ($lines, $what) = @$c;
    my $info0 = channel_info($port, $pub);
    $r = raw_publish($pub, $lines, $what);
    ok $r->{status} == 400 || $r->{status} == 201, "$what: 400 or taken ($r->{status})";
    my $info = channel_info($port, $pub);
    if ($r->{status} == 400) {
        is $info->{messages}, $info0->{messages}, "$what: refused, nothing stored";
        pass "$what: (no event)";
        pass "$what: (no event)";
    }
    else {
        $accepted++;
        ok $s->wait_events(++$before, 5), "$what: taken, one event";
        my $e = ($s->events)[-1];
        is $e->{last_event_id}, $info->{last_message_id}, "$what: its id is the message's, not a forged one";
        unlike $e->{type}, qr/[\r\n]/, "$what: the name is one line ($e->{type})";
    }
}
is_deeply [ grep { $_ !~ /\A(id|event|data)\z/ } map { $_->[0] } $s->parser->fields ], [],
          'raw: only id, event and data fields ever';
is scalar(grep { $_->[0] eq 'id' && $_->[1] =~ /\A66/ } $s->parser->fields), 0, 'raw: no forged id';

# The name is stored with the message: a resumed stream gets it too.
my ($first) = grep { $_->{type} eq 'ok' } $s->events;
$s->close;
my $info = channel_info($port, $pub);
$s = sse_open($port, "/sse/sub?c=$ch", headers => { 'Last-Event-ID' => 'none' });
ok $s->wait_events(1 + $info->{messages}, 5), 'stored: every kept message';
is_deeply [ map { $_->{type} } grep { $_->{last_event_id} eq $first->{last_event_id} } $s->events ],
          [ 'ok' ], 'stored: the name comes back with the backlog';
# PUT names too.
my $put = http_request($port, 'PUT', $pub, body => 'put', headers => { 'X-EventSource-Event' => 'viaput' });
is $put->{status}, 201, 'PUT: taken';
ok $s->wait_events(2 + $info->{messages}, 5), 'PUT: its event';
is_deeply [ map { $_->{type} } ($s->events)[-1] ], [ 'viaput' ], 'PUT: named';
$s->close;
# GET ignores the header (the channel's info).
is http_request($port, 'GET', $pub, headers => { 'X-EventSource-Event' => 'x' x 300 })->{status},
   200, 'GET: the header does not matter';

# UTF-8 on the wire. A UTF-8 name is fine as it is.
my $u = uniq_channel('utf8');
$s = sse_open($port, "/sse/sub?c=$u");
ok wait_subscribers($port, "/sse/pub?c=$u", 1, 5), 'UTF-8 name: subscribed';
$r = raw_publish("/sse/pub?c=$u", "X-EventSource-Event: \xC3\xA9v\xC3\xA8nement\r\n", 'x');
ok $s->wait_events(1, 5), 'UTF-8 name: the event';
is_deeply [ map { $_->{type} } $s->events ], [ "\x{e9}v\x{e8}nement" ], 'UTF-8 name: as sent';
# A name that is not UTF-8 (Latin-1 "é"): refused, or sent as valid UTF-8.
$r = raw_publish("/sse/pub?c=$u", "X-EventSource-Event: \xE9t\xE9\r\n", 'latin-1 name');
if ($r->{status} == 400) {
    like $r->{body}, qr/X-EventSource-Event/, 'Latin-1 name: refused (400), naming the header';
}
else {
    ok $s->wait_events(2, 5), "Latin-1 name: taken ($r->{status}), its event";
}
ok valid_utf8($s->body), 'Latin-1 name: the event stream stays valid UTF-8'
    or diag 'body: ' . ($s->body =~ s/([^\x20-\x7e\n])/sprintf '\\x%02X', ord $1/ger);
$s->close;
# A channel id that is not UTF-8 (%FF) would be an event name in a
# multi-channel stream: refused (400, saying so), or sent as valid UTF-8.
my $ff = '%FF' . uniq_channel('ff');
$s = sse_open($port, "/sse/sub?c=$ff,$u");
if ($s->status == 400) {
    $s->read_to_eof(3);
    like $s->body, qr/UTF-8/, 'channel %FF: refused (400), saying why';
    is http_request($port, 'POST', "/sse/pub?c=$ff", body => 'to ff')->{status}, 400,
       'channel %FF: publishing is refused too';
}
else {
    ok wait_subscribers($port, "/sse/pub?c=$ff", 1, 5), "channel %FF: subscribed ($s->{status})";
    http_request($port, 'POST', "/sse/pub?c=$ff", body => 'to ff');
    ok $s->wait_events(1, 5), 'channel %FF: the event';
}
ok valid_utf8($s->body), 'channel %FF: the event stream stays valid UTF-8'
    or diag 'body: ' . ($s->body =~ s/([^\x20-\x7e\n])/sprintf '\\x%02X', ord $1/ger);
$s->close;
