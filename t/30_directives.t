# Every per-directory directive, merged across nested locations and
# .htaccess files.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use JSON::PP ();
use MxhrTest;

plan tests => 36;

sub run {
    my ($path, %o) = @_;
    my $s = stream_open($path, %o);
    my $done = $s->read_all($o{wait} || 5);
    return ($s, $done, $done ? $s->parts : ());
}

# MxhrContentType JSON: {"seq", "time"} bodies
my ($s, $done, @p) = run('/json');
ok $done, '/json completes';
is $s->boundary, 'json-b', 'MxhrBoundary';
is scalar @p, 2, 'MxhrMaxSections 2';
is $p[0]{type}, 'application/json', 'part type is the configured one';
my $j = JSON::PP::decode_json($p[1]{body});
is $j->{seq}, 2, 'JSON seq';
like $j->{time}, qr/^\d\d:\d\d:\d\d\.\d{3}\z/, 'JSON time in the default format';

# Nested location inherits type, boundary, limit; sets the time format.
($s, $done, @p) = run('/json/epoch');
ok $done, '/json/epoch completes';
is $s->boundary, 'json-b', 'boundary inherited';
is scalar @p, 2, 'limit inherited';
like $p[0]{body}, qr/^\{"seq": 1, "time": \d{13}\}\z/,
     'epoch-ms time is a JSON number';

($s, $done, @p) = run('/json/iso');
ok $done, '/json/iso completes';
is $p[0]{type}, 'application/vnd.example+json', '+json type overrides';
like JSON::PP::decode_json($p[0]{body})->{time},
     qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\z/,
     'iso8601 time in a +json body';

($s, $done, @p) = run('/custom');
ok $done, '/custom completes';
like $p[0]{body}, qr/^at %L \[\d{3}\] \d{4}\z/,
     'strftime format with %L and a literal %%L';

# MxhrMaxDuration 1s at 300ms: sections at 0, .3, .6, .9, closed at 1s
my $t0 = time;
($s, $done, @p) = run('/duration');
ok $done, 'MxhrMaxDuration ends the stream';
is scalar @p, 4, 'four sections in one second at 300ms';
like $s->body, qr/\r\n--dur--\r\n\z/, 'with the closing delimiter';

# Below the floor: raised to 100ms, logged once.
my $log0 = error_log_size();
($s, $done, @p) = run('/fast');
run('/fast');
ok $done, '/fast completes';
my @ms = map { $_->{body} } @p;
cmp_ok $ms[3] - $ms[0], '>=', 290, 'interval raised to the 100ms floor';
my $log = error_log_since($log0);
my $n = () = $log =~ /MXHR010: MxhrInterval for \/fast is below MxhrMinInterval; raised to 100ms/g;
is $n, 1, 'the error log says so once for two streams';

# .htaccess
($s, $done, @p) = run('/ht/anything');
ok $done, '.htaccess stream completes';
is $s->status, 200, '.htaccess SetHandler works';
is $s->boundary, 'ht-bound', '.htaccess MxhrBoundary';
is scalar @p, 2, '.htaccess MxhrMaxSections';
like $p[0]{body}, qr/^\d{4}-\d\d-\d\dT[\d:.]+Z\z/, '.htaccess MxhrTimeFormat';

($s, $done, @p) = run('/ht/sub/x');
ok $done, 'sub-directory .htaccess stream completes';
is $s->boundary, 'sub-bound', 'sub-directory overrides the boundary';
is scalar @p, 3, 'and the limit';
like $p[0]{body}, qr/Z\z/, 'and inherits the time format';

$log0 = error_log_size();
$s = stream_open('/ht/bad/x');
is $s->status, 500, 'a bad value in .htaccess gives 500';
like error_log_since($log0),
     qr/MxhrInterval: '5fortnights' has an unknown unit \(use ms, s, m or h\)/,
     'and the error log names the directive, value and what is allowed';

$log0 = error_log_size();
$s = stream_open('/ht/server-only/x');
is $s->status, 500, 'a server-level directive in .htaccess gives 500';
like error_log_since($log0), qr/MxhrMaxStreams not allowed here/,
     'and the error log says it is not allowed there';

$log0 = error_log_size();
$s = stream_open('/ht/keep-request/x');
is $s->status, 500, 'MxhrKeepRequest in .htaccess gives 500';
like error_log_since($log0), qr/MxhrKeepRequest not allowed here/,
     'and the error log says it is not allowed there';
