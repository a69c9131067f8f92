# The channels' numeric directives (one setter, set_number) refuse a
# value they cannot parse with the directive, the value and what is
# allowed, and a good value after a bad one is still read as given:
# a duration that fails to parse leaves nothing behind (set_number once
# copied the parser's unwritten result before looking at the error;
# valgrind cannot see that copy, so these cases pin the behaviour).
# Also the server-only ceilings (MxhrHistoryCeiling) and MxhrNamespace.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use File::Temp qw(tempdir);
use FindBin;
use lib "$FindBin::Bin/lib";
use MxhrConf ();

my @bad = (
    # [ config lines, in <Location>?, expected message ]
    ['MxhrChannelHistoryTime 5y', 1, qr/MxhrChannelHistoryTime: '5y' has an unknown unit .*at least 1s/],
    ['MxhrHeartbeat 10d', 1, qr/MxhrHeartbeat: '10d' has an unknown unit/],
    ['MxhrChannelHistoryTime 99999999999', 1, qr/MxhrChannelHistoryTime: '9+' is too large \(at most one day\)/],
    ['MxhrHeartbeat -1', 1, qr/MxhrHeartbeat: '-1' must start with a whole number/],
    ['MxhrSseRetry 1.5s', 1, qr/MxhrSseRetry: '1.5s' has an unknown unit/],
    ['MxhrChannelHistory ten', 1, qr/MxhrChannelHistory: 'ten' must be a whole number/],
    ['MxhrMessageMaxSize 1q', 1, qr/MxhrMessageMaxSize: '1q' is not a size/],
    ['MxhrHistoryCeiling 0 1h', 0, qr/MxhrHistoryCeiling: '0' is below 1; use a whole number of messages from 1 to 100000/],
    ['MxhrHistoryCeiling 100001 1h', 0, qr/MxhrHistoryCeiling: '100001' is too large/],
    ['MxhrHistoryCeiling 1000 500ms', 0, qr/MxhrHistoryCeiling: '500ms' is below 1s/],
    ['MxhrHistoryCeiling 1000 5y', 0, qr/MxhrHistoryCeiling: '5y' has an unknown unit/],
    ['MxhrHistoryCeiling 1000', 0, qr/MxhrHistoryCeiling takes two arguments/],
    ['MxhrHistoryCeiling 10 1h', 1, qr/MxhrHistoryCeiling not allowed in <Location> context/],
    ['MxhrNamespace "%{HTTP_HOST"', 0, qr/MxhrNamespace: cannot parse "%\{HTTP_HOST": .*; use a string expression/],
    ['MxhrNamespace shop', 1, qr/MxhrNamespace not allowed in <Location> context/],
    ['MxhrRedis redis://:secret\@h:99999', 0, qr/MxhrRedis: the URL has a port that is not 1 to 65535; use redis:\/\/host:port/],
    ['MxhrRedis redis://:secret\@h?db=2', 0, qr/MxhrRedis: the URL has a query or a fragment/],
    ['MxhrRedis redis://:bad%zz\@h', 0, qr/MxhrRedis: the URL has a password with a bad %-escape/],
);

plan tests => 2 + 3 * @bad + grep { $_->[0] =~ /secret/ } @bad;

my $so = ($ENV{MXHR_SRC} || '.') . '/.libs/mod_mxhr.so';
my $dir = tempdir(CLEANUP => 1);

sub check {
    my ($line, $in_location) = @_;
    return MxhrConf::check_line(dir => $dir, so => $so, line => $line,
                                in_location => $in_location);
}

my ($rc, $out) = check("MxhrChannelHistoryTime 30m\n    MxhrHeartbeat 250ms", 1);
is $rc, 0, 'good durations pass apache2 -t';
like $out, qr/Syntax OK/, 'Syntax OK';

for my $case (@bad) {
    my ($line, $loc, $re) = @$case;
    my ($rc, $out, $lineno) = check($line, $loc);
    (my $name = $line) =~ s/\r/\\r/g;
    isnt $rc, 0, "apache2 -t refuses: $name";
    like $out, $re, "message for: $name" or diag $out;
    like $out, qr/line $lineno of \Q$dir\E\/mxhr-check\.conf/,
         "file and line for: $name";
    unlike $out, qr/secret/, "no password echoed for: $name" if $line =~ /secret/;
}
