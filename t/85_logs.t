# Access log (status 200, body bytes), mod_status counters, and
# mod_deflate kept from buffering the stream.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET_BODY);
use Time::HiRes qw(time);
use MxhrTest;

plan tests => 14;

# Waits for the access log line of the request carrying $id.
sub access_line {
    my $id = shift;
    my $log = Apache::Test::vars('t_logs') . '/mxhr_access.log';
    for (1 .. 20) {   # the log line is written as the request ends
        open my $fh, '<', $log or last;
        my ($line) = grep { /\Q$id\E/ } <$fh>;
        return $line if $line;
        select undef, undef, undef, 0.1;
    }
    return undef;
}

# A stream that keeps its request (always so off the event MPM's engine)
# is logged when it ends, with all its bytes.
my $id = sprintf 'id=%d%d', $$, int(rand 1e6);
my $s = stream_open("/stream-kept?$id");
ok $s->read_all(5), 'stream completes';
my $bytes = length $s->body;
my $line = access_line($id);
ok defined $line, 'the stream appears in the access log';
like $line // '', qr{^GET /stream-kept\?\Q$id\E HTTP/1\.1 200 $bytes$},
     "with status 200 and the $bytes body bytes sent";

# On the engine a stream frees its request after the first section: the
# access log line comes then, and the true end is in the error log.
$id = sprintf 'id=%d%d', $$, int(rand 1e6);
my $offset = error_log_size();
$s = stream_open("/stream?$id");
ok $s->read_all(5), 'detachable stream completes';
$bytes = length $s->body;
$line = access_line($id);
if (mpm() eq 'event') {
    my ($first) = ($line // '') =~ m{^GET /stream\?\Q$id\E HTTP/1\.1 200 (\d+)$};
    ok defined $first && $first > 0 && $first < $bytes,
       "access log: 200 and the first section's bytes (${\($first // '?')} of $bytes)";
    my $end;
    for (1 .. 20) {
        ($end) = error_log_since($offset) =~ /(MXHR024: stream end: "GET \/stream\?\Q$id\E" .*)/;
        last if $end;
        select undef, undef, undef, 0.1;
    }
    like $end // '', qr/ 3 sections, $bytes bytes, \d+ ms: limit reached/,
         'error log: its true end, with all its bytes';
}
else {
    like $line // '', qr{^GET /stream\?\Q$id\E HTTP/1\.1 200 $bytes$},
         "no engine: logged at the end with the $bytes bytes";
    unlike error_log_since($offset), qr/MXHR024/, 'no separate end line';
}

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
