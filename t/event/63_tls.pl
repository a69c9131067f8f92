# Streams over TLS (mod_ssl) go through the engine too, through the
# connection's filters, without blocking: framing intact, a stuck TLS
# client holds nobody up.
#
# The framing and the suspension pass on the timed-callback code
# (a0bd899) too: TLS streams were suspended there as well. What fails
# there is the stuck clients: each write to one blocked a worker for half
# the interval, and the reader's largest gap was about 3 s.
use strict;
use warnings FATAL => 'all';
use Test::More;
use IO::Socket::SSL ();
use IO::Select ();
use IO::Socket::INET ();
use Socket qw(SOL_SOCKET SO_RCVBUF pack_sockaddr_in inet_aton);
use Time::HiRes qw(time sleep);
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrServer;

plan tests => 10;

my $srv = MxhrServer->start(ssl => 1, pool => { threads => 4, factor => 40 }, conf => <<'CONF');
SendBufferSize 512
<IfDirective MxhrSendBuffer>
    MxhrSendBuffer 1k
</IfDirective>
<Location /s>
    SetHandler mxhr-stream
    MxhrBoundary b
    MxhrInterval 200ms
    MxhrMaxSections 5
</Location>
<Location /long>
    SetHandler mxhr-stream
    MxhrBoundary b
    MxhrInterval 1s
    MxhrTimeFormat "%H:%M:%S.%L %490c"
    MxhrContentType "text/plain; x-pad=ppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"
</Location>
CONF

sub tls {
    my %o = @_;
    # The receive buffer is set before connect, or the window is
    # already negotiated (large).
    my $s = IO::Socket::INET->new(Proto => 'tcp') or die "socket: $!";
    setsockopt($s, SOL_SOCKET, SO_RCVBUF, pack('i', $o{rcvbuf})) if $o{rcvbuf};
    $s->connect(pack_sockaddr_in($srv->ssl_port, inet_aton('127.0.0.1')))
        or die "connect: $!";
    IO::Socket::SSL->start_SSL($s, SSL_verify_mode => IO::Socket::SSL::SSL_VERIFY_NONE(),
                               Timeout => 5)
        or die "TLS handshake: $IO::Socket::SSL::SSL_ERROR";
    print $s "GET $o{path} HTTP/$o{proto}\r\nHost: localhost\r\n\r\n";
    return $s;
}

# Reads until EOF or $secs; returns what came and the arrival times of
# the delimiters.
sub slurp {
    my ($s, $secs) = @_;
    my ($all, @t) = ('');
    my $end = time + $secs;
    my $sel = IO::Select->new($s);
    while (time < $end) {
        # SSL may hold decrypted bytes that select() cannot see.
        next unless $s->pending || $sel->can_read(0.1);
        my $n = sysread $s, my $buf, 65536;
        last if defined $n && $n == 0;
        next unless $n;
        my $before = () = $all =~ /\r\n--b/g;
        $all .= $buf;
        my $after = () = $all =~ /\r\n--b/g;
        push @t, (time) x ($after - $before);
    }
    return ($all, @t);
}

# HTTP/1.0: the body is the raw multipart.
my $s = tls(path => '/s', proto => '1.0');
sleep 0.3;
my $st = $srv->status;
my ($all) = slurp($s, 5);
my ($head, $body) = split /\r\n\r\n/, $all, 2;
like $head, qr{^HTTP/1\.\d 200}, 'TLS stream: 200';
is scalar(() = $body =~ /\r\nContent-Type: text\/plain/g), 5, '5 parts';
like $body, qr/\A--b\r\n.*\r\n--b--\r\n\z/s, 'opens with the delimiter, ends with the closing one';
cmp_ok $st->{MxhrStreamsSuspended} // 0, '>=', 1, 'on the engine while it ran (no thread held)';
ok $srv->error_log =~ /MXHR013: stream started: .*on the push engine/, 'the log says so';

# HTTP/1.1: our own chunk framing, through mod_ssl.
$s = tls(path => '/s', proto => '1.1');
($all) = slurp($s, 5);
($head, $body) = split /\r\n\r\n/, $all, 2;
like $head, qr/\r\nTransfer-Encoding: chunked/i, 'HTTP/1.1: chunked';
my $plain = '';
while ($body =~ s/\A([0-9a-f]+)\r\n//i) {
    my $len = hex $1;
    last if $len == 0;
    $plain .= substr $body, 0, $len, '';
    $body =~ s/\A\r\n// or last;
}
like $plain, qr/\A--b\r\n(?:.*?\r\n--b){5}--\r\n\z/s, 'dechunked: 5 parts and the closing delimiter';

# TLS clients that stop reading beside one that reads, on 4 threads,
# every second; ~800-byte sections (a padded time, a long part type),
# so the stuck ones fill their buffers in a few sections. Before the
# engine each write to one of them blocked a worker for up to half the
# interval.
my ($n, $secs) = (20, 10);
my @stuck = map { tls(path => '/long', proto => '1.0', rcvbuf => 256) } 1 .. $n;
my $ok = tls(path => '/long', proto => '1.0');
my $t0 = time;
my (undef, @t) = slurp($ok, $secs);
# A stall up to the end counts too.
my @gaps = sort { $a <=> $b } ((map { $t[$_] - $t[$_ - 1] } 1 .. $#t),
                               $t0 + $secs - ($t[-1] // $t0));
$st = $srv->status;
diag sprintf "TLS reader beside %d stuck TLS clients: %d sections in %ds, largest gap %.3fs; dropped: %d",
     $n, scalar @t, $secs, $gaps[-1], $st->{MxhrSlowClientsDropped} // 0;
cmp_ok scalar(@t), '>=', $secs - 1, 'the reader got its sections (' . scalar(@t) . ')';
cmp_ok $gaps[-1], '<=', 1.1, sprintf "its largest gap %.3fs (interval 1s)", $gaps[-1];
cmp_ok $st->{MxhrSlowClientsDropped} // 0, '>=', $n, "the stuck TLS clients were dropped ($st->{MxhrSlowClientsDropped})";
close $_ for @stuck;
