# Access log (status 200, body bytes), mod_status counters, and
# mod_deflate kept from buffering the stream.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET_BODY);
use Time::HiRes qw(time);
use MxhrTest;

plan tests => 11;

my $id = sprintf 'id=%d%d', $$, int(rand 1e6);
my $s = stream_open("/stream?$id");
ok $s->read_all(5), 'stream completes';
my $bytes = length $s->body;

my $log = Apache::Test::vars('t_logs') . '/mxhr_access.log';
my $line;
for (1 .. 20) {   # the log line is written as the request ends
    open my $fh, '<', $log or last;
    ($line) = grep { /\Q$id\E/ } <$fh>;
    last if $line;
    select undef, undef, undef, 0.1;
}
ok defined $line, 'the stream appears in the access log';
like $line // '', qr{^GET /stream\?\Q$id\E HTTP/1\.1 200 $bytes$},
     "with status 200 and the $bytes body bytes sent";

# mod_status shows our counters.
my $auto = GET_BODY('/server-status?auto');
like $auto, qr/^MxhrStreamsOpen: \d+$/m, 'server-status?auto: streams open';
my ($sent) = $auto =~ /^MxhrSectionsSent: (\d+)$/m;
cmp_ok $sent // 0, '>=', 3, "sections sent counted ($sent)";
like $auto, qr/^MxhrEndedByLimit: [1-9]\d*$/m, 'streams ended by limit counted';
like GET_BODY('/server-status'), qr/mod_mxhr streams/, 'HTML status section';

# SetOutputFilter DEFLATE on the location: no compression, no delay.
my $t0 = time;
$s = stream_open('/deflated', headers => { 'Accept-Encoding' => 'gzip' });
ok !defined $s->header('content-encoding'), 'not gzip-encoded';
ok $s->read_until(1.5, sub { $_[0]->parts_complete >= 1 }),
   'first section arrives at once despite DEFLATE';
cmp_ok time - $t0, '<', 1.5, 'before the second is due';
like $s->body, qr/^--defl\r\nContent-Type: text\/plain/, 'readable as is';
$s->close;
