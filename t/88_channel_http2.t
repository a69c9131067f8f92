# Channels through mod_http2 (h2c, prior knowledge) where the MPM
# supports it (prefork: HTTP/1.1): a subscription gets a published
# message byte for byte and ends with the closing delimiter on DELETE.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use MxhrTest qw(server_port mpm);
use MxhrChannel;

plan tests => 8;

my $port = server_port();
my $h2 = mpm() ne 'prefork';
my $flag = $h2 ? '--http2-prior-knowledge' : '--http2';
my $ch = uniq_name('h2');
my $pub = "/ch/pub?id=$ch";
open my $curl, '-|', 'curl', '-sS', '-i', '--max-time', '10', $flag,
     "http://127.0.0.1:$port/ch/sub?id=$ch"
    or die "curl: $!";
binmode $curl;
ok wait_subscribers($port, $pub, 1, 5), 'curl subscribed';
my $body = "over h2\r\n" . join('', map { chr } 0 .. 255);
my $r = ch_request($port, 'POST', $pub, body => $body, type => 'application/x-h2');
is $r->{status}, 201, 'published: 201';
$r = ch_request($port, 'POST', $pub, body => "x--chb--\r\n", type => 'text/plain');
sleep 1;    # both delivered before the channel is deleted
is ch_request($port, 'DELETE', $pub)->{status}, 200, 'DELETE ends the stream';
my $out = do { local $/; <$curl> } // '';
close $curl;
is $? >> 8, 0, 'curl completes' or diag $out;
my ($head, $rest) = split /\r\n\r\n/, $out, 2;
$rest //= '';
like $head, $h2 ? qr{^HTTP/2 200} : qr{^HTTP/1\.1 200},
     $h2 ? 'served over HTTP/2' : 'prefork: served over HTTP/1.1';
my ($ct) = $head =~ /^content-type:\s*(.+?)\r?$/mi;
my @m = grep { !defined $_->{heartbeat} } mime_parts($ct, $rest);
is_deeply [ map { $_->{body} } @m ], [ $body, "x--chb--\r\n" ],
          'both messages byte for byte (the second base64)';
is_deeply [ map { $_->{type} } @m ], [ 'application/x-h2', 'text/plain' ], 'their types';
like $rest, qr/\r\n--chb--\r\n\z/, 'ends with the closing delimiter';
