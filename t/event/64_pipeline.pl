# A request pipelined behind a finite stream is answered, or the stream
# said Connection: close (the engine's streams cannot hand their
# connection back to httpd 2.4, so they say so).
#
# Before the engine (a0bd899) the event path closed the connection after
# the stream without saying Connection: close: the pipelined request was
# lost with no warning. Worker and prefork answer it.
use strict;
use warnings FATAL => 'all';
use Test::More;
use IO::Socket::INET ();
use IO::Select ();
use Time::HiRes qw(time);
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrServer;

my @mpms = qw(event worker prefork);
plan tests => 4 * @mpms;

for my $mpm (@mpms) {
    my $pool = $mpm eq 'prefork' ? { children => 3, min_spare => 3 }
             : { threads => 5 };
    my $srv = MxhrServer->start(mpm => $mpm, pool => $pool,
                                expect_errors => [MxhrServer::blocking_pool_full($mpm)], conf => <<'CONF');
<Location /finite>
    SetHandler mxhr-stream
    MxhrBoundary b
    MxhrInterval 100ms
    MxhrMaxSections 2
</Location>
CONF
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $srv->port)
        or die "connect: $!";
    syswrite $s, "GET /finite HTTP/1.1\r\nHost: x\r\n\r\n"
               . "GET /server-status?auto HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    my ($all, $eof) = ('', 0);
    my $sel = IO::Select->new($s);
    my $end = time + 5;
    while (time < $end && $sel->can_read($end - time)) {
        my $n = sysread $s, my $buf, 65536;
        if (!$n) { $eof = 1; last }
        $all .= $buf;
    }
    my ($head, $rest) = split /\r\n\r\n/, $all, 2;
    $rest //= '';
    # Undo the first response's chunked framing; what follows it is the
    # second response, if any.
    my $body = '';
    while ($rest =~ s/\A([0-9a-f]+)\r\n//i) {
        my $len = hex $1;
        if ($len == 0) { $rest =~ s/\A\r\n//; last }
        $body .= substr $rest, 0, $len, '';
        $rest =~ s/\A\r\n//;
    }
    my ($conn) = ($head // '') =~ /^Connection: *(.*?)\r?$/mi;
    my ($st1) = ($head // '') =~ m{^(HTTP/\S+ \d+)};
    my ($st2) = $rest =~ m{\A(HTTP/\S+ \d+)};
    diag sprintf "%s: stream %s, Connection: %s, dechunked body %d bytes ending %s, "
               . "after it %d bytes (%s), %s",
         $mpm, $st1 // 'no answer', $conn // '(none)',
         length $body, $body =~ /\r\n--b--\r\n\z/ ? 'with the closing delimiter' : 'without it',
         length $rest, $st2 // 'no second response',
         $eof ? 'then closed' : 'still open after 5s';
    like $head // '', qr{^HTTP/1\.1 200}, "$mpm: the stream answered";
    like $body, qr/\A--b\r\n(?:.*?\r\n--b){2}--\r\n\z/s, "$mpm: 2 parts and the closing delimiter, chunked";
    my $close = ($head // '') =~ /^Connection: close\r?$/mi;
    my $second = $rest =~ m{\AHTTP/1\.1 200 .*ServerVersion:}s;
    ok $second || ($close && $eof && $rest eq ''),
       "$mpm: the pipelined request is answered ("
       . ($second ? 'yes' : 'no') . ") or the stream said Connection: close ("
       . ($close ? 'yes' : 'no') . ') and closed';
    ok $eof, "$mpm: the connection ends";
    close $s;
    $srv->stop;
}
