# Every bad directive value is refused when the configuration is read,
# with the file, the line, the directive, the value and what is allowed.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use File::Temp qw(tempdir);
use FindBin;
use lib "$FindBin::Bin/lib";
use MxhrConf ();

my @bad = (
    # [ config line, in <Location>?, expected message ]
    ['MxhrInterval 5x', 1, qr/MxhrInterval: '5x' has an unknown unit \(use ms, s, m or h\); use a whole number/],
    ['MxhrInterval -1', 1, qr/MxhrInterval: '-1' must start with a whole number/],
    ['MxhrInterval 0', 1, qr/MxhrInterval: '0' is zero; the interval must be greater than 0/],
    ['MxhrInterval 1.5s', 1, qr/MxhrInterval: '1.5s' has an unknown unit/],
    ['MxhrInterval 48h', 1, qr/MxhrInterval: '48h' is too large \(at most one day\)/],
    ['MxhrBoundary "semi;colon"', 1, qr/MxhrBoundary: 'semi;colon' is not a valid multipart boundary; use 1 to 70 characters/],
    ['MxhrBoundary "trailing "', 1, qr/MxhrBoundary: 'trailing ' is not a valid multipart boundary/],
    ['MxhrBoundary ' . ('x' x 71), 1, qr/MxhrBoundary: 'x{71}' is not a valid/],
    ['MxhrContentType textplain', 1, qr/MxhrContentType: 'textplain' is not a valid media type; use type\/subtype/],
    ["MxhrContentType \"text/plain\rX-Evil: 1\"", 1, qr/MxhrContentType: 'text\/plain(?:\r|\\r)X-Evil: 1' is not a valid media type/],
    ['MxhrTimeFormat ""', 1, qr/MxhrTimeFormat takes one argument/],
    ["MxhrTimeFormat \"%H\t%M\"", 1, qr/MxhrTimeFormat: '%H(?:\t|\\t)%M' contains a control character; use a strftime format \(with %L for milliseconds\), iso8601 or epoch-ms/],
    ['MxhrMaxSections -3', 1, qr/MxhrMaxSections: '-3' must be a whole number, 0 or more; use a whole number of sections, 0 for no limit/],
    ['MxhrMaxSections lots', 1, qr/MxhrMaxSections: 'lots' must be a whole number/],
    ['MxhrMaxDuration 5y', 1, qr/MxhrMaxDuration: '5y' has an unknown unit.*0 for no limit/],
    ['MxhrFormat json', 1, qr/MxhrFormat: 'json' is not a known format; use auto, mixed-replace, mixed or sse/],
    ['MxhrMaxStreams -1', 0, qr/MxhrMaxStreams: '-1' must be a whole number/],
    ['MxhrMaxStreams 2000000', 0, qr/MxhrMaxStreams: '2000000' is too large; use a whole number of streams up to 1000000/],
    ['MxhrMinInterval 0', 0, qr/MxhrMinInterval: '0' is below 1ms; use at least 1ms/],
    ['MxhrMaxDurationLimit 1.5s', 0, qr/MxhrMaxDurationLimit: '1.5s' has an unknown unit/],
    ['MxhrMaxStreams 10', 1, qr/MxhrMaxStreams not allowed in <Location> context/],
    ['MxhrMinInterval 1s', 1, qr/MxhrMinInterval not allowed in <Location> context/],
    ['MxhrAsync maybe', 0, qr/MxhrAsync must be On or Off/],
    ['MxhrAsync Off', 1, qr/MxhrAsync not allowed in <Location> context/],
    ['MxhrSendBuffer lots', 0, qr/MxhrSendBuffer: 'lots' is not a size; use a size from 1k to 64m/],
    ['MxhrSendBuffer 64q', 0, qr/MxhrSendBuffer: '64q' is not a size/],
    ['MxhrSendBuffer 100', 0, qr/MxhrSendBuffer: '100' is out of range; use a size from 1k to 64m/],
    ['MxhrSendBuffer 65m', 0, qr/MxhrSendBuffer: '65m' is out of range/],
    ['MxhrSendBuffer 99999999999999999999', 0, qr/MxhrSendBuffer: '9+' is too large/],
    ['MxhrSendBuffer 64k', 1, qr/MxhrSendBuffer not allowed in <Location> context/],
    ['MxhrKeepRequest maybe', 1, qr/MxhrKeepRequest must be On or Off/],
    ['MxhrChannel "%{env:X"', 1, qr/MxhrChannel: cannot parse "%\{env:X": .*; use a string expression/],
    ['MxhrChannelHistory 0', 1, qr/MxhrChannelHistory: '0' is below 1; use a whole number of messages from 1 to 100000/],
    ['MxhrChannelHistory 100001', 1, qr/MxhrChannelHistory: '100001' is too large/],
    ['MxhrChannelHistoryTime 500ms', 1, qr/MxhrChannelHistoryTime: '500ms' is below 1s/],
    ['MxhrChannelReplay some', 1, qr/MxhrChannelReplay: 'some' must be a whole number/],
    ['MxhrHeartbeat 50ms', 1, qr/MxhrHeartbeat: '50ms' is below 100ms; .*0 for none/],
    ['MxhrMessageMaxSize 2048m', 1, qr/MxhrMessageMaxSize: '2048m' is too large; use a size up to 1024m/],
    ['MxhrMessageMaxSize 10x', 1, qr/MxhrMessageMaxSize: '10x' is not a size/],
    ['MxhrMessageMaxSizeLimit 1m', 1, qr/MxhrMessageMaxSizeLimit not allowed in <Location> context/],
    ['MxhrStoreSize 512k', 0, qr/MxhrStoreSize: '512k' is below 1m; use a size of at least 1m/],
    ['MxhrStoreSize 32m', 1, qr/MxhrStoreSize not allowed in <Location> context/],
    ['MxhrMaxChannels -1', 0, qr/MxhrMaxChannels: '-1' must be a whole number/],
    ['MxhrSseRetry 2x', 1, qr/MxhrSseRetry: '2x' has an unknown unit.*0 for none/],
);

plan tests => 2 + 3 * @bad;

my $so = ($ENV{MXHR_SRC} || '.') . '/.libs/mod_mxhr.so';
my $dir = tempdir(CLEANUP => 1);

# The configuration checked: MxhrConf's head, then the line (in a
# <Location> or not); returns apache2 -t's exit code, its output, and
# the line number the message must name.
sub check {
    my ($line, $in_location) = @_;
    return MxhrConf::check_line(dir => $dir, so => $so, line => $line,
                                in_location => $in_location);
}

my ($rc, $out) = check('MxhrInterval 250ms', 1);
is $rc, 0, 'a good configuration passes apache2 -t';
like $out, qr/Syntax OK/, 'Syntax OK';

for my $case (@bad) {
    my ($line, $loc, $re) = @$case;
    my ($rc, $out, $lineno) = check($line, $loc);
    (my $name = $line) =~ s/\r/\\r/g;
    isnt $rc, 0, "apache2 -t refuses: $name";
    like $out, $re, "message for: $name" or diag $out;
    like $out, qr/line $lineno of \Q$dir\E\/mxhr-check\.conf/,
         "file and line for: $name";
}
