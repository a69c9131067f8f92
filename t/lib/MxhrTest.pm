package MxhrTest;
# Helpers for mod_mxhr's tests: a raw-socket HTTP client that reads a
# stream as it arrives (Apache::Test's LWP client waits for the whole
# response), and a MIME multipart parser for what it read.
# The helpers that take no Apache::Test server (wait_until, read_some,
# parse_head, dechunk) serve MxhrChannel and MxhrSse too, which the
# private-server tests of t/event use without Apache::Test: it is loaded
# only by the subs that need it.
use strict;
use warnings FATAL => 'all';

use IO::Socket::INET ();
use IO::Select ();
use Time::HiRes qw(time sleep);
use MIME::Parser ();

use Exporter 'import';
our @EXPORT = qw(stream_open parse_multipart wire_bytes server_port
                 error_log_since error_log_size httpd_pid mpm wait_until);
our @EXPORT_OK = qw(read_some parse_head dechunk);

sub mpm { $ENV{MXHR_MPM} || 'event' }

# The port of the main server, or of a <VirtualHost NAME> of extra.conf.
sub server_port {
    my $vhost = shift;
    require Apache::Test;
    require Apache::TestRequest;
    no warnings 'once';     # the module is loaded here, at run time
    local $Apache::TestRequest::Module = $vhost if $vhost;
    my $hp = Apache::TestRequest::hostport(Apache::Test::config());
    my ($port) = $hp =~ /:(\d+)$/;
    return $port;
}

sub httpd_pid {
    require Apache::Test;
    my $file = Apache::Test::vars('t_logs') . '/httpd.pid';
    open my $fh, '<', $file or die "cannot read $file: $!";
    my $pid = <$fh>;
    chomp $pid;
    return $pid;
}

sub error_log_file {
    require Apache::Test;
    return Apache::Test::vars('t_logs') . '/error_log';
}

sub error_log_size { -s error_log_file() || 0 }

# What the error log gained since an earlier error_log_size().
sub error_log_since {
    my $offset = shift;
    open my $fh, '<', error_log_file() or return '';
    seek $fh, $offset, 0;
    local $/;
    return <$fh> // '';
}

# Polls $cond every 50 ms until it is true or $timeout passes; returns
# its last value.
sub wait_until {
    my ($timeout, $cond) = @_;
    my $end = time + $timeout;
    while (1) {
        my $v = $cond->();
        return $v if $v || time >= $end;
        sleep 0.05;
    }
}

# Waits until $deadline for $sock to be readable, then reads once: the
# bytes, '' at EOF (or a read error), undef when nothing came in time.
sub read_some {
    my ($sock, $deadline) = @_;
    my $left = $deadline - time;
    return undef if $left <= 0 || !IO::Select->new($sock)->can_read($left);
    my $n = sysread $sock, my $buf, 65536;
    return $n ? $buf : '';
}

# A response head, without the blank line that ends it => (status line,
# status, { lower-case name => value }), repeated fields joined by ", ".
sub parse_head {
    my ($status_line, @lines) = split /\r\n/, shift;
    my ($status) = $status_line =~ m{^HTTP/\d\.\d (\d{3})};
    my %h;
    for (@lines) {
        my ($k, $v) = /^([^:]+):\s*(.*)$/ or next;
        $h{lc $k} = exists $h{lc $k} ? "$h{lc $k}, $v" : $v;
    }
    return ($status_line, $status, \%h);
}

# Moves the complete chunks at the start of $$raw into $$body, framing
# undone; true when the last chunk and the blank line after it are there.
sub dechunk {
    my ($raw, $body) = @_;
    while ($$raw =~ /\A([0-9a-fA-F]+)[^\r\n]*\r\n/) {
        my ($hex, $hl) = ($1, length $&);
        my $size = hex $hex;
        if ($size == 0) {
            return $$raw =~ /\A0[^\r\n]*\r\n\r\n/ ? 1 : 0;
        }
        last if length($$raw) < $hl + $size + 2;
        $$body .= substr $$raw, $hl, $size;
        $$raw = substr $$raw, $hl + $size + 2;
    }
    return 0;
}

# Opens a request and reads the status line and headers.
#   stream_open('/stream', proto => '1.0', method => 'HEAD',
#               headers => { Accept => 'multipart/mixed' }, vhost => 'x')
sub stream_open {
    my ($path, %o) = @_;
    my $port = $o{port} || server_port($o{vhost});
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => $port, Proto => 'tcp',
                                     Timeout => 5)
        or die "connect 127.0.0.1:$port: $!";
    $sock->autoflush(1);
    my $proto = $o{proto} || '1.1';
    my $method = $o{method} || 'GET';
    my $req = "$method $path HTTP/$proto\r\nHost: 127.0.0.1:$port\r\n";
    $req .= "Connection: close\r\n" if $proto eq '1.1';
    my $h = $o{headers} || {};
    $req .= "$_: $h->{$_}\r\n" for sort keys %$h;
    if (defined $o{body}) {
        $req .= "Content-Length: " . length($o{body}) . "\r\n";
    }
    $req .= "\r\n" . ($o{body} // '');
    my $self = bless { sock => $sock, raw => '', body => '', t0 => time,
                       eof => 0, done => 0, part_times => [],
                       method => $method }, 'MxhrTest::Stream';
    print $sock $req;
    # lazy: a request that waits for a worker; headers come with the body.
    $self->_read_headers($o{timeout} || 5) unless $o{lazy};
    return $self;
}

# Parses a complete multipart body with MIME::Parser; returns a list of
# { type, length, seq, body, headers } for each part.
sub parse_multipart {
    my ($content_type, $body) = @_;
    my $parser = MIME::Parser->new;
    $parser->output_to_core(1);
    $parser->decode_bodies(0);
    $parser->ignore_errors(0);
    my $ent = $parser->parse_data("Content-Type: $content_type\r\n"
                                  . "MIME-Version: 1.0\r\n\r\n" . $body);
    my @parts;
    for my $p ($ent->parts) {
        my $h = $p->head;
        my $b = $p->bodyhandle ? $p->bodyhandle->as_string : '';
        my %hdr = map { my $v = $h->get($_); $v =~ s/\r?\n\z//; (lc $_ => $v) }
                  $h->tags;
        push @parts, { type => $hdr{'content-type'},
                       length => $hdr{'content-length'},
                       seq => $hdr{'mxhr-seq'}, body => $b,
                       headers => \%hdr };
    }
    return @parts;
}

# The exact bytes mod_mxhr must have sent for these parts.
sub wire_bytes {
    my ($boundary, $closed, @parts) = @_;
    my $out = '';
    my $first = 1;
    for my $p (@parts) {
        $out .= $first ? "--$boundary\r\n" : "\r\n";
        $out .= "Content-Type: $p->{type}\r\n"
              . "Content-Length: " . length($p->{body}) . "\r\n"
              . "Mxhr-Seq: $p->{seq}\r\n\r\n$p->{body}\r\n--$boundary";
        $first = 0;
    }
    $out .= "--\r\n" if $closed;
    return $out;
}

package MxhrTest::Stream;
use Time::HiRes qw(time);

sub status   { $_[0]{status} }
sub header   { $_[0]{headers}{lc $_[1]} }
sub headers  { $_[0]{headers} }
sub body     { $_[0]{body} }
sub done     { $_[0]{done} }
sub t0       { $_[0]{t0} }
sub part_times { @{ $_[0]{part_times} } }
sub close    { close $_[0]{sock}; $_[0]{done} = 1 }

sub boundary {
    my $self = shift;
    my $ct = $self->header('content-type') // '';
    return $ct =~ /boundary="([^"]+)"/ ? $1 : undef;
}

sub chunked {
    my $te = $_[0]->header('transfer-encoding');
    return defined $te && $te =~ /chunked/i;
}

sub _fill {
    my ($self, $deadline) = @_;
    my $buf = MxhrTest::read_some($self->{sock}, $deadline) // return 0;
    if ($buf eq '') {
        $self->{eof} = 1;
        return 0;
    }
    $self->{raw} .= $buf;
    return 1;
}

sub _read_headers {
    my ($self, $timeout) = @_;
    my $deadline = time + $timeout;
    until ($self->{raw} =~ /\r\n\r\n/) {
        $self->_fill($deadline) or last;
    }
    my $end = index $self->{raw}, "\r\n\r\n";
    die "no response headers within ${timeout}s" if $end < 0;
    my $head = substr $self->{raw}, 0, $end;
    $self->{raw} = substr $self->{raw}, $end + 4;
    my ($line, $status, $h) = MxhrTest::parse_head($head);
    @$self{qw(status_line status)} = ($line, $status);
    # No header fields: {headers} stays unset (read_until looks at it).
    $self->{headers} = $h if %$h;
    $self->{done} = 1 if $self->{method} eq 'HEAD';
    $self->_decode;
}

# Moves what has arrived from raw into body, undoing chunked encoding,
# and notes when each part became complete (its delimiter arrived).
sub _decode {
    my $self = shift;
    if ($self->chunked) {
        $self->{done} = 1 if MxhrTest::dechunk(\$self->{raw}, \$self->{body});
    }
    else {
        $self->{body} .= $self->{raw};
        $self->{raw} = '';
        $self->{done} = 1 if $self->{eof};
    }
    $self->{done} = 1 if $self->{eof};
    my $b = $self->boundary;
    if (defined $b) {
        my $n = () = $self->{body} =~ /\r\n--\Q$b\E/g;
        push @{ $self->{part_times} }, time - $self->{t0}
            while @{ $self->{part_times} } < $n;
    }
}

# Reads until the response is complete, cond->($self) is true, or the
# timeout passes. Returns true when complete or cond held.
sub read_until {
    my ($self, $timeout, $cond) = @_;
    my $deadline = time + $timeout;
    if (!$self->{headers}) {
        until ($self->{raw} =~ /\r\n\r\n/) {
            $self->_fill($deadline) or return 0;
        }
        $self->_read_headers(0);
    }
    while (1) {
        return 1 if $self->{done} || ($cond && $cond->($self));
        $self->_fill($deadline) or do { $self->_decode; last };
        $self->_decode;
    }
    return $self->{done} || ($cond && $cond->($self)) ? 1 : 0;
}

sub read_all { $_[0]->read_until($_[1] // 10) }

sub parts_complete { scalar @{ $_[0]{part_times} } }

sub parts {
    my $self = shift;
    return MxhrTest::parse_multipart($self->header('content-type'),
                                     $self->{body});
}

1;
