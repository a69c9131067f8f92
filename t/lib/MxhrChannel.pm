package MxhrChannel;
# Helpers for the channel tests (issue 8), usable both from Apache::Test
# files (t/9*_channel*.t, with MxhrTest::server_port) and from the
# private-server tests of t/event (with MxhrServer->port): everything
# here takes a port and needs neither Apache::Test nor a running
# t/TEST configuration.
#
#   ch_request($port, 'POST', '/ch/pub?id=x', body => ..., type => ...)
#       a publisher request: { status, headers, body, json, continue }
#   ch_subscribe($port, '/ch/sub?id=x', headers => {...})
#       a subscription read as it arrives; ->pump, ->parts, ->messages
#   mime_parts($content_type, $body)
#       MIME::Parser's view of a complete multipart body, bodies decoded
#       per Content-Transfer-Encoding
#   id_cmp, parse_id, wait_until, status_auto, wait_subscribers
use strict;
use warnings FATAL => 'all';

use IO::Socket::INET ();
use IO::Select ();
use Socket ();
use Time::HiRes qw(time sleep);
use MIME::Parser ();
use MIME::Base64 qw(decode_base64);
use JSON::PP ();
use MxhrTest qw(wait_until parse_head dechunk);

use Exporter 'import';
our @EXPORT = qw(ch_request ch_subscribe ch_pump_all mime_parts parse_id
                 id_cmp ids_increasing wait_until status_auto
                 wait_subscribers uniq_name holders);

# A channel name of our own: tests never share one, whatever ran before
# on the same server.
my $uniq = 0;
sub uniq_name {
    my $what = shift // 'c';
    return sprintf '%s-%d-%d-%d', $what, $$, int(time * 1000) % 1_000_000, ++$uniq;
}

# "<store>-<seq>" => (store, seq), or () when it is not an id.
sub parse_id {
    my $id = shift // return;
    return $id =~ /\A(\d+)-(\d+)\z/ ? ($1, $2) : ();
}

sub id_cmp {
    my ($a, $b) = @_;
    my @a = parse_id($a) or die "not an id: " . ($a // 'undef');
    my @b = parse_id($b) or die "not an id: " . ($b // 'undef');
    return $a[0] <=> $b[0] || $a[1] <=> $b[1];
}

# True when every id is valid and each is greater than the one before.
sub ids_increasing {
    my @ids = @_;
    return 0 if grep { !defined $_ || !parse_id($_) } @ids;
    for my $i (1 .. $#ids) {
        return 0 unless id_cmp($ids[$i - 1], $ids[$i]) < 0;
    }
    return 1;
}

# One request on its own connection (HTTP/1.1, Connection: close).
#   body => STRING        sent with Content-Length
#   chunks => [STRING...] sent with Transfer-Encoding: chunked
#   length => N           Content-Length: N without sending a body
#                         (unless 100 Continue comes: then N bytes of 'x')
#   type => TYPE          Content-Type (none when undef)
#   expect => 1           Expect: 100-continue: the body goes only after
#                         "100 Continue" ({continue} => 1), or not at all
#                         when a final answer comes first
#   headers => { ... }, timeout => seconds (10), vhost-free: port only.
sub ch_request {
    my ($port, $method, $path, %o) = @_;
    my $timeout = $o{timeout} || 10;
    my $end = time + $timeout;
    my $r = { status => 0, headers => {}, body => '', continue => 0,
              sent_body => 0 };
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                     Proto => 'tcp', Timeout => 5)
        or do { $r->{error} = "connect 127.0.0.1:$port: $!"; return $r };
    binmode $sock;
    local $SIG{PIPE} = 'IGNORE';
    my $head = "$method $path HTTP/1.1\r\nHost: 127.0.0.1:$port\r\nConnection: close\r\n";
    $head .= "Content-Type: $o{type}\r\n" if defined $o{type};
    my $h = $o{headers} || {};
    $head .= "$_: $h->{$_}\r\n" for sort keys %$h;
    my $body = '';
    if ($o{chunks}) {
        $head .= "Transfer-Encoding: chunked\r\n";
        $body = join('', map { sprintf("%x\r\n", length $_) . "$_\r\n" }
                         grep { length } @{ $o{chunks} }) . "0\r\n\r\n";
    }
    elsif (defined $o{body}) {
        $head .= "Content-Length: " . length($o{body}) . "\r\n";
        $body = $o{body};
    }
    elsif (defined $o{length}) {
        $head .= "Content-Length: $o{length}\r\n";
        $body = 'x' x $o{length};
    }
    $head .= "Expect: 100-continue\r\n" if $o{expect};
    $head .= "\r\n";
    my $raw = '';
    my $sel = IO::Select->new($sock);
    my $readsome = sub {
        my $wait = shift;
        return 0 unless $sel->can_read($wait);
        my $n = sysread $sock, my $buf, 65536;
        if (!$n) { $r->{eof} = 1; return 0 }
        $raw .= $buf;
        return 1;
    };
    _write_all($sock, $head) or do { $r->{error} = "write: $!"; return $r };
    if ($o{expect}) {
        # Wait for 100 Continue or a final answer.
        while ($raw !~ /\r\n\r\n/ && time < $end && !$r->{eof}) {
            $readsome->(0.2);
        }
        if ($raw =~ s{\AHTTP/1\.\d 100[^\r\n]*\r\n(?:[^\r\n]+\r\n)*\r\n}{}) {
            $r->{continue} = 1;
        }
        else {
            $body = '';   # a final answer came first (or nothing at all)
        }
    }
    # The body in pieces; stop if the server has answered meanwhile.
    my $off = 0;
    while ($off < length $body) {
        last if $sel->can_read(0) && (!$readsome->(0) || $raw =~ /\r\n\r\n/);
        my $piece = substr $body, $off, 65536;
        my $n = syswrite $sock, $piece;
        last unless $n;
        $off += $n;
    }
    $r->{sent_body} = $off;
    while (!$r->{eof} && time < $end) {
        $readsome->($end - time > 0.2 ? 0.2 : ($end - time > 0 ? $end - time : 0));
        # A complete Content-Length answer needs no EOF.
        if ($raw =~ /\A(.*?)\r\n\r\n/s) {
            my $hl = length($1) + 4;
            my ($cl) = $1 =~ /^Content-Length:\s*(\d+)\s*$/mi;
            last if defined $cl && length($raw) >= $hl + $cl;
            last if $method eq 'HEAD';
        }
    }
    close $sock;
    my $i = index $raw, "\r\n\r\n";
    if ($i < 0) { $r->{error} = "no response"; $r->{raw} = $raw; return $r }
    (undef, $r->{status}, $r->{headers}) = parse_head(substr $raw, 0, $i);
    $r->{status} //= 0;
    my $rest = substr $raw, $i + 4;
    if (($r->{headers}{'transfer-encoding'} // '') =~ /chunked/i) {
        my $plain = '';
        while ($rest =~ s/\A([0-9a-fA-F]+)[^\r\n]*\r\n//) {
            my $len = hex $1;
            last if $len == 0;
            $plain .= substr $rest, 0, $len, '';
            $rest =~ s/\A\r\n// or last;
        }
        $rest = $plain;
    }
    $r->{body} = $rest;
    if (($r->{headers}{'content-type'} // '') =~ m{^application/json}i) {
        $r->{json} = eval { JSON::PP->new->utf8->decode($rest) };
    }
    return $r;
}

sub _write_all {
    my ($sock, $data) = @_;
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite $sock, $data, length($data) - $off, $off;
        return 0 unless $n;
        $off += $n;
    }
    return 1;
}

# GET /server-status?auto => { Key => value }.
sub status_auto {
    my $port = shift;
    my $r = ch_request($port, 'GET', '/server-status?auto', timeout => 5);
    return { $r->{body} =~ /^(\w+): (\S+)\r?$/mg };
}

# Polls the publisher's GET until the channel counts $n subscribers;
# returns the last JSON (undef if never answered 200).
sub wait_subscribers {
    my ($port, $pub, $n, $timeout) = @_;
    my $last;
    wait_until($timeout // 3, sub {
        my $r = ch_request($port, 'GET', $pub, timeout => 3);
        $last = $r->{json} if $r->{status} == 200;
        return $last && ($last->{subscribers} // -1) == $n;
    });
    return $last;
}

# MIME::Parser's reading of a multipart body: complete parts only (a
# stream still open is closed after its last delimiter). Bodies are
# decoded per Content-Transfer-Encoding (base64); raw keeps what came.
sub mime_parts {
    my ($content_type, $body) = @_;
    my ($b) = ($content_type // '') =~ /boundary="?([^";]+)"?/;
    return () unless defined $b;
    my $last = rindex $body, "\r\n--$b";
    return () if $last < 0;
    my $whole = substr($body, 0, $last + length("\r\n--$b")) . "--\r\n";
    my $parser = MIME::Parser->new;
    $parser->output_to_core(1);
    $parser->decode_bodies(0);
    $parser->ignore_errors(0);
    my $ent = $parser->parse_data("Content-Type: $content_type\r\n"
                                  . "MIME-Version: 1.0\r\n\r\n" . $whole);
    my @parts;
    for my $p ($ent->parts) {
        my $h = $p->head;
        my $raw = $p->bodyhandle ? $p->bodyhandle->as_string : '';
        my %hdr = map { my $v = $h->get($_); $v =~ s/\r?\n\z//; (lc $_ => $v) }
                  $h->tags;
        my $cte = lc($hdr{'content-transfer-encoding'} // '');
        my $dec = $cte eq 'base64' ? decode_base64($raw) : $raw;
        push @parts, { headers => \%hdr, raw => $raw, body => $dec,
                       type => $hdr{'content-type'}, id => $hdr{'mxhr-id'},
                       channel => $hdr{'mxhr-channel'}, seq => $hdr{'mxhr-seq'},
                       heartbeat => $hdr{'mxhr-heartbeat'} };
    }
    return @parts;
}

# ch_subscribe($port, $path, headers => {...}, proto => '1.0',
#              rcvbuf => bytes (a small receive window: a slow reader))
sub ch_subscribe {
    my ($port, $path, %o) = @_;
    my $sock;
    if ($o{rcvbuf}) {
        # Before connect, or the window is already negotiated (large).
        $sock = IO::Socket::INET->new(Proto => 'tcp') or die "socket: $!";
        setsockopt($sock, Socket::SOL_SOCKET(), Socket::SO_RCVBUF(), pack('i', $o{rcvbuf}));
        $sock->connect(Socket::pack_sockaddr_in($port, Socket::inet_aton('127.0.0.1')))
            or die "connect 127.0.0.1:$port: $!";
    }
    else {
        $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                      Proto => 'tcp', Timeout => 5)
            or die "connect 127.0.0.1:$port: $!";
    }
    binmode $sock;
    my $proto = $o{proto} || '1.1';
    my $req = "GET $path HTTP/$proto\r\nHost: 127.0.0.1:$port\r\n";
    $req .= "Connection: close\r\n" if $proto eq '1.1';
    my $h = $o{headers} || {};
    $req .= "$_: $h->{$_}\r\n" for sort keys %$h;
    $req .= "\r\n";
    my $self = bless { sock => $sock, raw => '', body => '', eof => 0,
                       t0 => time, path => $path }, 'MxhrChannel::Sub';
    syswrite $sock, $req;
    $self->_headers($o{timeout} || 5) unless $o{lazy};
    return $self;
}

# Reads every subscription in @$subs until $cond->() or $secs pass.
sub ch_pump_all {
    my ($subs, $secs, $cond) = @_;
    my $end = time + $secs;
    my %by = map { fileno($_->{sock}) => $_ } grep { !$_->{eof} } @$subs;
    my $sel = IO::Select->new(map { $_->{sock} } values %by);
    my $extra = 0;
    while (1) {
        return 1 if $cond && $cond->();
        last unless $sel->count;
        my $left = $end - time;
        $left = 0 if $left < 0;
        my @ready = $sel->can_read($left > 0.1 ? 0.1 : $left);
        for my $s (@ready) {
            my $c = $by{fileno $s} or next;
            $c->_read_once or $sel->remove($s);
        }
        # Out of time: read on only while something is ready, briefly.
        last if $left <= 0 && (!@ready || ++$extra > 50);
    }
    return $cond ? ($cond->() ? 1 : 0) : 1;
}

# For a private server (MxhrServer): the PID of the child holding each
# subscription's connection, found by its server-side socket (local port
# = the server's, remote port = the client's) in /proc/net/tcp and in
# the children's /proc/PID/fd; 0 when none holds it.
sub holders {
    my ($srv, @subs) = @_;
    my %inode;   # client port => server-side socket inode
    for my $f ('/proc/net/tcp', '/proc/net/tcp6') {
        open my $fh, '<', $f or next;
        while (<$fh>) {
            my @f = split ' ';
            next unless @f > 9 && $f[1] =~ /:([0-9A-F]{4})$/;
            next unless hex($1) == $srv->port;
            my ($rport) = $f[2] =~ /:([0-9A-F]{4})$/ or next;
            $inode{ hex $rport } = $f[9] if $f[9];
        }
    }
    my %pid_of;  # inode => pid
    for my $kid ($srv->children) {
        for my $fd (glob "/proc/$kid/fd/*") {
            my $l = readlink($fd) // next;
            $pid_of{$1} = $kid if $l =~ /^socket:\[(\d+)\]$/;
        }
    }
    return map { my $i = $inode{ $_->{sock}->sockport } // 0; $pid_of{$i} // 0 } @subs;
}

package MxhrChannel::Sub;
use Time::HiRes qw(time);

sub status   { $_[0]{status} // 0 }
sub header   { $_[0]{headers}{lc $_[1]} }
sub headers  { $_[0]{headers} }
sub body     { $_[0]{body} }
sub eof      { $_[0]{eof} }
sub close    { close $_[0]{sock}; $_[0]{eof} = 1 }

sub boundary {
    my $ct = $_[0]->header('content-type') // '';
    return $ct =~ /boundary="?([^";]+)"?/ ? $1 : undef;
}

sub chunked { ($_[0]->header('transfer-encoding') // '') =~ /chunked/i }

# One read (the socket is readable); false at EOF.
sub _read_once {
    my $self = shift;
    my $n = sysread $self->{sock}, my $buf, 262144;
    if (!$n) {
        return 1 if !defined $n && $!{EAGAIN};
        $self->{eof} = 1;
        $self->_decode;
        return 0;
    }
    $self->{raw} .= $buf;
    if (!$self->{headers}) {
        my $i = index $self->{raw}, "\r\n\r\n";
        return 1 if $i < 0;
        @$self{qw(status_line status headers)}
            = MxhrTest::parse_head(substr $self->{raw}, 0, $i);
        $self->{raw} = substr $self->{raw}, $i + 4;
    }
    $self->_decode;
    # Parsed as they arrive, so that each part's {at} is its arrival.
    $self->parts;
    return 1;
}

sub _headers {
    my ($self, $timeout) = @_;
    my $end = time + $timeout;
    my $sel = IO::Select->new($self->{sock});
    while (!$self->{headers} && !$self->{eof}) {
        my $left = $end - time;
        last if $left <= 0;
        $sel->can_read($left) or last;
        $self->_read_once;
    }
    die "no response headers for $self->{path} within ${timeout}s\n"
        unless $self->{headers};
}

sub _decode {
    my $self = shift;
    return unless $self->{headers};
    if ($self->chunked) {
        $self->{chunked_end} = 1
            if MxhrTest::dechunk(\$self->{raw}, \$self->{body});
    }
    else {
        $self->{body} .= $self->{raw};
        $self->{raw} = '';
    }
}

# Reads until $cond->($self), EOF, or $secs; true if $cond held (or,
# without $cond, at EOF).
sub pump {
    my ($self, $secs, $cond) = @_;
    my $end = time + $secs;
    my $sel = IO::Select->new($self->{sock});
    while (1) {
        return 1 if $cond && $cond->($self);
        last if $self->{eof};
        my $left = $end - time;
        last if $left <= 0;
        $sel->can_read($left > 0.1 ? 0.1 : $left) or next;
        $self->_read_once;
    }
    return $cond ? ($cond->($self) ? 1 : 0) : $self->{eof};
}

# Ended with the closing delimiter.
sub closed {
    my $self = shift;
    my $b = $self->boundary // return 0;
    return $self->{body} =~ /\r\n--\Q$b\E--\r\n\z/ ? 1 : 0;
}

# The parts complete so far, read strictly by the contract: the stream
# starts with "--B" CRLF; each part is its headers, a blank line,
# exactly Content-Length bytes and "CRLF --B"; then CRLF and the next
# part, or "--" CRLF at the end. Each part: { names => [header names
# in order], h => { lc name => value }, raw => bytes on the wire, body
# => decoded (base64 undone), seq, id, channel, heartbeat }.
# Anything else is noted in $self->{wire_error} (undef when all fine).
sub parts {
    my $self = shift;
    my $b = $self->boundary;
    my $d = $self->{body};
    return () unless defined $b && length $d;
    # Parsed incrementally: the body only grows.
    my $st = $self->{pstate} ||= { pos => undef, parts => [], stop => 0 };
    return @{ $st->{parts} } if $st->{stop};
    my $p = $st->{parts};
    if (!defined $st->{pos}) {
        my $open = "--$b\r\n";
        if (substr($d, 0, length $open) ne substr($open, 0, length $d)) {
            $self->{wire_error} = 'does not start with --B CRLF';
            $st->{stop} = 1;
            return ();
        }
        return () if length $d < length $open;
        $st->{pos} = length $open;
    }
    my $pos = $st->{pos};
    my $delim = "\r\n--$b";
    while ($pos < length $d) {
        if ($st->{tail}) {
            # After a delimiter: CRLF and the next part, or "--" CRLF.
            my $next = substr $d, $pos, 2;
            last if length($next) < 2;
            if ($next eq '--') {
                my $rest = substr $d, $pos;
                $self->{closed} = 1 if $rest eq "--\r\n";
                $self->{wire_error} = 'bytes after the closing delimiter'
                    if $rest ne substr("--\r\n", 0, length $rest);
                $st->{stop} = 1 if length($rest) >= 4;
                last;
            }
            if ($next ne "\r\n") {
                $self->{wire_error} = "part #" . scalar(@$p) . ": delimiter not followed by CRLF";
                $st->{stop} = 1;
                last;
            }
            $pos += 2;
            $st->{pos} = $pos;
            $st->{tail} = 0;
            next;
        }
        my $he = index $d, "\r\n\r\n", $pos;
        last if $he < 0;
        my @lines = split /\r\n/, substr($d, $pos, $he - $pos);
        my (@names, %h);
        for (@lines) {
            my ($k, $v) = /^([^:\s]+): (.*)\z/s
                or do { $self->{wire_error} = "bad header line '$_'"; $st->{stop} = 1; return @$p };
            push @names, $k;
            $h{lc $k} = $v;
        }
        my $len = $h{'content-length'};
        if (!defined $len || $len !~ /\A\d+\z/) {
            $self->{wire_error} = 'part without Content-Length';
            $st->{stop} = 1;
            return @$p;
        }
        my $bs = $he + 4;
        last if length($d) < $bs + $len + length $delim;
        my $raw = substr $d, $bs, $len;
        if (substr($d, $bs + $len, length $delim) ne $delim) {
            $self->{wire_error} = "part #" . (@$p + 1)
                . ": no delimiter after Content-Length bytes";
            $st->{stop} = 1;
            return @$p;
        }
        my $cte = lc($h{'content-transfer-encoding'} // '');
        push @$p, { names => \@names, h => \%h, raw => $raw,
                    body => $cte eq 'base64' ? MIME::Base64::decode_base64($raw) : $raw,
                    cte => $cte, type => $h{'content-type'},
                    seq => $h{'mxhr-seq'}, id => $h{'mxhr-id'},
                    channel => $h{'mxhr-channel'}, heartbeat => $h{'mxhr-heartbeat'},
                    at => time };
        $pos = $bs + $len + length $delim;
        $st->{pos} = $pos;
        $st->{tail} = 1;
    }
    return @$p;
}

sub messages { grep { !defined $_->{heartbeat} } $_[0]->parts }
sub heartbeats { grep { defined $_->{heartbeat} } $_[0]->parts }

# MIME::Parser's parts of what came so far.
sub mime { MxhrChannel::mime_parts($_[0]->header('content-type'), $_[0]{body}) }

# pump until at least $n messages (heartbeats excluded) are complete.
sub wait_messages {
    my ($self, $n, $secs) = @_;
    return $self->pump($secs // 3, sub { scalar($_[0]->messages) >= $n });
}

1;
