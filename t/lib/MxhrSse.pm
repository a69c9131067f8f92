package MxhrSse;
# Helpers for the server-sent events tests (issue 9), usable from the
# Apache::Test files (t/97_sse*.t, with MxhrTest::server_port) and from
# private-server tests (t/event/76_sse_*.pl, with MxhrServer->port):
# everything here takes a port and needs no Apache::Test.
#
#   MxhrSse::Parser    the HTML standard's event stream interpretation
#                      (https://html.spec.whatwg.org/multipage/
#                      server-sent-events.html#event-stream-interpretation),
#                      written from the standard, not from our C code or
#                      the browser client: fed bytes as they come, it
#                      dispatches events as a browser's EventSource would.
#   sse_parse($bytes)  a Parser fed a whole stream, then ended.
#   sse_event_bytes(id => ..., event => ..., data => BYTES)
#                      the exact bytes the contract says an event takes.
#   sse_open($port, $path, %o)
#                      a request read as it arrives: the raw wire, the
#                      body (chunked framing undone and checked), events.
#   http_request($port, $method, $path, %o), http_raw($port, $bytes)
#                      one request on its own connection.
#   channel_info, wait_subscribers, uniq_channel, last_id_of
use strict;
use warnings FATAL => 'all';

use IO::Socket::INET ();
use IO::Select ();
use JSON::PP ();
use MIME::Base64 ();
use Time::HiRes qw(time sleep);
use MxhrTest qw(wait_until read_some);

use Exporter 'import';
our @EXPORT = qw(sse_parse sse_event_bytes sse_base64_data sse_open
                 http_request http_raw channel_info wait_subscribers
                 uniq_channel wait_until strip_heartbeats);

# ---- The parser -------------------------------------------------------

package MxhrSse::Parser;

# A new event source's state: no last event id, no reconnection time
# set by the stream, empty buffers.
sub new {
    my $class = shift;
    return bless {
        pending => '',          # bytes of a line not ended yet
        bom_checked => 0,       # the decoder's BOM, at the very start only
        after_cr => 0,          # a CR ended the last line: skip one LF
        data => '', type => '', id_buffer => '',
        last_event_id => '',    # the event source's last event ID string
        retry => undef,         # the reconnection time, when a field set it
        retries => [],          # every retry value taken, in order
        events => [],           # dispatched: { type, data, last_event_id }
        comments => [],         # comment lines, without the colon
        fields => [],           # every field line: [ name, value ]
        ended => 0,
    }, $class;
}

sub events        { @{ $_[0]{events} } }
sub comments      { @{ $_[0]{comments} } }
sub fields        { @{ $_[0]{fields} } }
sub retry         { $_[0]{retry} }
sub retries       { @{ $_[0]{retries} } }
sub last_event_id { $_[0]{last_event_id} }
# What is buffered and would be discarded at the end of the stream: a
# line not ended, or an event's fields without the blank line.
sub incomplete {
    my $self = shift;
    return length($self->{pending}) || length($self->{data})
        || length($self->{type}) ? 1 : 0;
}

# Feeds bytes as they arrive (any split, even inside a UTF-8 sequence or
# between CR and LF); returns the events this dispatched.
sub feed {
    my ($self, $bytes) = @_;
    die "fed after the end" if $self->{ended};
    $self->{pending} .= $bytes;
    if (!$self->{bom_checked}) {
        # "UTF-8 decode": one leading BOM is dropped, and only at the
        # very start of the stream.
        my $p = $self->{pending};
        return () if length($p) < 3 && $p eq substr("\xEF\xBB\xBF", 0, length $p);
        $self->{pending} =~ s/\A\xEF\xBB\xBF//;
        $self->{bom_checked} = 1;
    }
    my @out;
    while (length $self->{pending}) {
        if ($self->{after_cr}) {
            # The CR that ended the last line may be half of a CRLF.
            $self->{after_cr} = 0;
            if (substr($self->{pending}, 0, 1) eq "\n") {
                substr($self->{pending}, 0, 1) = '';
                next;
            }
        }
        # end-of-line = ( cr lf / cr / lf )
        $self->{pending} =~ /[\r\n]/g or last;
        my $at = pos($self->{pending}) - 1;
        my $eol = substr $self->{pending}, $at, 1;
        my $line = substr $self->{pending}, 0, $at;
        substr($self->{pending}, 0, $at + 1) = '';
        $self->{after_cr} = 1 if $eol eq "\r";
        push @out, $self->_line($line);
    }
    return @out;
}

# The end of the stream: "any pending data must be discarded" (an event
# without its blank line is not dispatched).
sub finish {
    my $self = shift;
    $self->{ended} = 1;
    return $self;
}

# A line is bytes; the stream is UTF-8, decoded as the Encoding
# standard's UTF-8 decoder does (each invalid sequence becomes U+FFFD;
# noncharacters are characters). CR and LF never occur inside a
# multi-byte sequence, so decoding per line is decoding the stream.
sub _decode {
    my @b = unpack 'C*', shift;
    my ($out, $cp, $need, $seen, $lo, $hi) = ('', 0, 0, 0, 0x80, 0xBF);
    my $i = 0;
    while ($i < @b) {
        my $c = $b[$i];
        if (!$need) {
            $i++;
            if ($c <= 0x7F) { $out .= chr $c }
            elsif ($c >= 0xC2 && $c <= 0xDF) { ($need, $cp) = (1, $c & 0x1F) }
            elsif ($c >= 0xE0 && $c <= 0xEF) {
                $lo = 0xA0 if $c == 0xE0;
                $hi = 0x9F if $c == 0xED;
                ($need, $cp) = (2, $c & 0x0F);
            }
            elsif ($c >= 0xF0 && $c <= 0xF4) {
                $lo = 0x90 if $c == 0xF0;
                $hi = 0x8F if $c == 0xF4;
                ($need, $cp) = (3, $c & 0x07);
            }
            else { $out .= "\x{FFFD}" }
            next;
        }
        if ($c < $lo || $c > $hi) {
            # The byte starts over; what came before it is one error.
            ($cp, $need, $seen, $lo, $hi) = (0, 0, 0, 0x80, 0xBF);
            $out .= "\x{FFFD}";
            next;
        }
        $i++;
        ($lo, $hi) = (0x80, 0xBF);
        $cp = ($cp << 6) | ($c & 0x3F);
        if (++$seen == $need) {
            $out .= chr $cp;
            ($cp, $need, $seen) = (0, 0, 0);
        }
    }
    $out .= "\x{FFFD}" if $need;
    return $out;
}

sub _line {
    my ($self, $bytes) = @_;
    my $line = _decode($bytes);
    if ($line eq '') {
        return $self->_dispatch;
    }
    if (substr($line, 0, 1) eq ':') {
        push @{ $self->{comments} }, substr $line, 1;
        return ();
    }
    my ($field, $value);
    my $colon = index $line, ':';
    if ($colon >= 0) {
        $field = substr $line, 0, $colon;
        $value = substr $line, $colon + 1;
        $value =~ s/\A //;          # one space, not more
    }
    else {
        ($field, $value) = ($line, '');
    }
    push @{ $self->{fields} }, [ $field, $value ];
    if ($field eq 'event') {
        $self->{type} = $value;
    }
    elsif ($field eq 'data') {
        $self->{data} .= "$value\n";
    }
    elsif ($field eq 'id') {
        $self->{id_buffer} = $value unless $value =~ /\x00/;
    }
    elsif ($field eq 'retry') {
        if ($value =~ /\A[0-9]+\z/) {
            $self->{retry} = 0 + $value;
            push @{ $self->{retries} }, 0 + $value;
        }
    }
    # any other field is ignored
    return ();
}

sub _dispatch {
    my $self = shift;
    # The last event ID buffer is not reset: it stays until set again.
    $self->{last_event_id} = $self->{id_buffer};
    if ($self->{data} eq '') {
        $self->{type} = '';
        return ();
    }
    my $data = $self->{data};
    $data =~ s/\n\z//;
    my $ev = { type => $self->{type} eq '' ? 'message' : $self->{type},
               data => $data, last_event_id => $self->{last_event_id} };
    $self->{data} = '';
    $self->{type} = '';
    push @{ $self->{events} }, $ev;
    return ($ev);
}

package MxhrSse;

sub sse_parse {
    my $p = MxhrSse::Parser->new;
    $p->feed($_) for @_;
    return $p->finish;
}

# ---- What the contract says goes on the wire ---------------------------

# One event: "id: ", "event: ", then a "data: " line for every line of
# the body (CRLF, CR and LF each end one; what follows the last break is
# a line too, maybe empty), then a blank line. LF ends every line.
sub sse_event_bytes {
    my %e = @_;
    my $out = '';
    $out .= "id: $e{id}\n" if defined $e{id};
    $out .= "event: $e{event}\n" if defined $e{event};
    my @lines = split /\r\n|\r|\n/, $e{data} // '', -1;
    @lines = ('') unless @lines;
    $out .= "data: $_\n" for @lines;
    return "$out\n";
}

# A body that is not UTF-8 travels as base64 in lines of 76.
sub sse_base64_data {
    my $b64 = MIME::Base64::encode_base64(shift, "\n");
    $b64 =~ s/\n\z//;
    return $b64;
}

# The body without heartbeat comments (":" LF LF), wherever they fall
# between events.
sub strip_heartbeats {
    my $body = shift;
    my $out = '';
    # Events and comment blocks both end with a blank line.
    while ($body =~ /\G((?:[^\n]+\n)*\n)/gc) {
        $out .= $1 unless $1 eq ":\n\n";
    }
    return $out . substr($body, pos($body) // 0);
}

# ---- Clients --------------------------------------------------------------

my $uniq = 0;
sub uniq_channel {
    my $what = shift // 'c';
    return sprintf 'sse-%s-%d-%d-%d', $what, $$, int(time * 1000) % 1_000_000,
                   ++$uniq;
}

sub _connect {
    my $port = shift;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                     Proto => 'tcp', Timeout => 5)
        or die "connect 127.0.0.1:$port: $!";
    binmode $sock;
    $sock->autoflush(1);
    return $sock;
}

sub _split_head {
    my ($raw) = @_;
    my $end = index $raw, "\r\n\r\n";
    return if $end < 0;
    my ($status_line, @lines) = split /\r\n/, substr($raw, 0, $end);
    my %h;
    for (@lines) {
        my ($k, $v) = /^([^:]+):[ \t]*(.*?)[ \t]*$/ or next;
        $h{lc $k} = exists $h{lc $k} ? "$h{lc $k}, $v" : $v;
    }
    my ($status) = $status_line =~ m{^HTTP/\d\.\d (\d{3})};
    return ($status // 0, \%h, substr($raw, $end + 4), $status_line);
}

# Sends raw bytes on a new connection; reads until the server closes
# (or $timeout). { status, headers, body, raw }.
sub http_raw {
    my ($port, $bytes, $timeout) = @_;
    my $sock = _connect($port);
    local $SIG{PIPE} = 'IGNORE';
    syswrite $sock, $bytes;
    my $raw = '';
    my $sel = IO::Select->new($sock);
    my $end = time + ($timeout // 10);
    while ((my $left = $end - time) > 0) {
        last unless $sel->can_read($left);
        my $n = sysread $sock, my $buf, 65536;
        last unless $n;
        $raw .= $buf;
    }
    close $sock;
    my ($status, $h, $body) = _split_head($raw);
    return { status => $status // 0, headers => $h // {}, body => $body // '',
             raw => $raw };
}

# One request (HTTP/1.0, so the answer ends with the connection):
#   body => BYTES, type => TYPE, headers => { ... }
# The JSON of a publisher's answer, when it is JSON, in {json}.
sub http_request {
    my ($port, $method, $path, %o) = @_;
    my $req = "$method $path HTTP/1.0\r\nHost: 127.0.0.1:$port\r\n";
    $req .= "Content-Type: $o{type}\r\n" if defined $o{type};
    my $h = $o{headers} || {};
    $req .= "$_: $h->{$_}\r\n" for sort keys %$h;
    $req .= "Content-Length: " . length($o{body}) . "\r\n" if defined $o{body};
    $req .= "\r\n" . ($o{body} // '');
    my $r = http_raw($port, $req, $o{timeout});
    if (($r->{headers}{'content-type'} // '') =~ m{^application/json}) {
        $r->{json} = eval { JSON::PP->new->decode($r->{body}) };
    }
    return $r;
}

# A channel's info from its publisher location, or undef (404).
sub channel_info {
    my ($port, $pub) = @_;
    my $r = http_request($port, 'GET', $pub);
    return $r->{status} == 200 ? $r->{json} : undef;
}

sub wait_subscribers {
    my ($port, $pub, $n, $timeout) = @_;
    return wait_until($timeout // 5, sub {
        my $i = channel_info($port, $pub);
        $i && $i->{subscribers} >= $n;
    });
}

# A stream request read as it arrives.
#   sse_open($port, '/sse/sub?c=x', proto => '1.0', method => 'HEAD',
#            headers => { Accept => 'text/event-stream' })
# Accept: text/event-stream unless headers say otherwise (accept =>
# undef: none at all).
sub sse_open {
    my ($port, $path, %o) = @_;
    my $sock = _connect($port);
    my $proto = $o{proto} || '1.1';
    my $method = $o{method} || 'GET';
    my %h = (exists $o{accept} ? (defined $o{accept} ? (Accept => $o{accept}) : ())
                               : (Accept => 'text/event-stream'),
             %{ $o{headers} || {} });
    my $req = "$method $path HTTP/$proto\r\nHost: 127.0.0.1:$port\r\n";
    $req .= "Connection: close\r\n" if $proto eq '1.1';
    $req .= "$_: $h{$_}\r\n" for sort keys %h;
    $req .= "\r\n";
    my $self = bless { sock => $sock,
                       in => '', wire => '', body => '', raw_rest => '',
                       eof => 0, ended => 0, chunk_error => undef,
                       method => $method, parser => MxhrSse::Parser->new,
                       t0 => time }, 'MxhrSse::Conn';
    syswrite $sock, $req;
    $self->_headers($o{timeout} // 5);
    return $self;
}

package MxhrSse::Conn;
use Time::HiRes qw(time);

sub status     { $_[0]{status} }
sub status_line { $_[0]{status_line} }
sub header     { $_[0]{headers}{lc $_[1]} }
sub headers    { $_[0]{headers} }
sub wire       { $_[0]{wire} }        # the body's bytes as sent (chunked)
sub body       { $_[0]{body} }        # the body, framing undone
sub ended      { $_[0]{ended} }       # last chunk, or EOF when not chunked
sub eof        { $_[0]{eof} }
sub chunk_error { $_[0]{chunk_error} }
sub after_last_chunk { $_[0]{raw_rest} }
sub parser     { $_[0]{parser} }
sub events     { $_[0]{parser}->events }
sub messages   { grep { $_->{type} !~ /\Amxhr-/ } $_[0]->events }
sub close      { close $_[0]{sock}; $_[0]{eof} = 1 }
sub chunked {
    my $te = $_[0]->header('transfer-encoding');
    return defined $te && $te =~ /chunked/i;
}

sub _fill {
    my ($self, $deadline) = @_;
    return 0 if $self->{eof};
    my $buf = MxhrTest::read_some($self->{sock}, $deadline) // return 0;
    $self->{eof} = 1 if $buf eq '';
    $self->{in} .= $buf;
    return 1;
}

sub _headers {
    my ($self, $timeout) = @_;
    my $deadline = time + $timeout;
    until (index($self->{in}, "\r\n\r\n") >= 0) {
        $self->_fill($deadline) && !$self->{eof} or last;
    }
    my ($status, $h, $rest, $line) = MxhrSse::_split_head($self->{in});
    die "no response headers within ${timeout}s" unless defined $status;
    @$self{qw(status headers status_line)} = ($status, $h, $line);
    $self->{in} = $rest;
    $self->{ended} = 1 if $self->{method} eq 'HEAD';
    $self->_decode;
}

# Moves what arrived into wire and body, undoing (and checking) the
# chunked framing, and feeds the parser.
sub _decode {
    my $self = shift;
    my $new = '';
    if ($self->chunked) {
        while (!$self->{ended}) {
            last unless $self->{in} =~ /\A([0-9a-fA-F]+)\r\n/;
            my ($size, $hl) = (hex $1, length $&);
            if ($size == 0) {
                last if length $self->{in} < $hl + 2;
                if (substr($self->{in}, $hl, 2) ne "\r\n") {
                    $self->{chunk_error} //= 'trailer after the last chunk';
                }
                $self->{wire} .= substr $self->{in}, 0, $hl + 2;
                $self->{in} = substr $self->{in}, $hl + 2;
                $self->{ended} = 1;
                last;
            }
            last if length($self->{in}) < $hl + $size + 2;
            if (substr($self->{in}, $hl + $size, 2) ne "\r\n") {
                $self->{chunk_error} //= "chunk of $size without its CRLF";
            }
            $new .= substr $self->{in}, $hl, $size;
            $self->{wire} .= substr $self->{in}, 0, $hl + $size + 2;
            $self->{in} = substr $self->{in}, $hl + $size + 2;
        }
        if (length $self->{in} && !$self->{ended}
            && $self->{in} !~ /\A[0-9a-fA-F]*(\r\n?)?\z/
            && $self->{in} !~ /\A[0-9a-fA-F]+\r\n/) {
            $self->{chunk_error} //= 'not a chunk: ' . substr($self->{in}, 0, 20);
        }
        if ($self->{ended}) {
            $self->{raw_rest} .= $self->{in};
            $self->{in} = '';
        }
    }
    else {
        $new = $self->{in};
        $self->{wire} .= $new;
        $self->{in} = '';
        $self->{ended} = 1 if $self->{eof};
    }
    if (length $new) {
        $self->{body} .= $new;
        $self->{parser}->feed($new);
    }
}

# Reads until the body ended, $cond->($self) holds, or $timeout passes.
# True when the body ended or cond held.
sub read_until {
    my ($self, $timeout, $cond) = @_;
    my $deadline = time + $timeout;
    while (1) {
        if ($cond) {
            return 1 if $cond->($self);
            return 0 if $self->{ended};
        }
        elsif ($self->{ended}) {
            return 1;
        }
        if (!$self->_fill($deadline)) {
            return $cond ? ($cond->($self) ? 1 : 0) : ($self->{ended} ? 1 : 0);
        }
        $self->_decode;
    }
}

# Until the server closes the connection too (after the last chunk).
sub read_to_eof {
    my ($self, $timeout) = @_;
    my $deadline = time + $timeout;
    while (!$self->{eof}) {
        $self->_fill($deadline) or last;
        $self->_decode;
    }
    return $self->{eof};
}

sub wait_events {
    my ($self, $n, $timeout) = @_;
    return $self->read_until($timeout, sub { scalar($_[0]->events) >= $n });
}

sub wait_body {
    my ($self, $re, $timeout) = @_;
    return $self->read_until($timeout, sub { $_[0]{body} =~ $re });
}

package MxhrSse;

1;
