# The check every private test server gets when it stops
# (MxhrServer::stop, MxhrLogCheck): an error line, or a child that died
# of a signal, fails the test that started the server, unless the test
# declared it expects it. Proven on the pure checker, then on real
# servers in child test scripts, whose verdict (TAP and exit code) is
# read here.
use strict;
use warnings FATAL => 'all';
use Test::More;
use File::Temp qw(tempdir);
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrLogCheck ();
use MxhrServer ();

plan tests => 12 + 3 * 4 + 4;

# ---- The checker on its own -------------------------------------------
my $log = <<'LOG';
[Thu Dec 03 07:50:26.009483 2026] [mxhr:info] [pid 1:tid 2] MXHR013: stream started
[Thu Dec 03 07:50:26.009483 2026] [mxhr:error] [pid 1:tid 2] [client 127.0.0.1:1] MXHR073: SetHandler mxhr-publish needs MxhrChannel (for /p)
[Thu Dec 03 07:50:27.000000 2026] [core:notice] [pid 7:tid 8] AH00052: child pid 9 exit signal Segmentation fault (11)
[Thu Dec 03 07:50:27.000000 2026] [ssl:emerg] [pid 7:tid 8] AH02572: Failed to configure at least one certificate
[Thu Dec 03 07:50:28.000000 2026] [core:warn] [pid 7:tid 8] AH00045: child process 9 still did not exit
[Thu Dec 03 07:50:28.000000 2026] [crit] [pid 7] a line without a module
LOG
my @bad = MxhrLogCheck::unexpected($log);
is scalar(@bad), 4, 'error, exit signal, emerg and crit lines are found; info and warn are not';
like $bad[0], qr/MXHR073/, 'the [mxhr:error] line';
like $bad[1], qr/exit signal/, 'the child that died of a signal';
is_deeply [ MxhrLogCheck::unexpected($log, qr/MXHR073/, 'AH00052', qr/AH02572/, qr/\[crit\]/) ], [],
          'each expected line declared: nothing left';
is_deeply [ map { /(MXHR073|AH00052|AH02572|\[crit\])/ } MxhrLogCheck::unexpected($log, 'Segmentation fault (11)') ],
          [ 'MXHR073', 'AH02572', '[crit]' ], 'a string is a literal (parentheses and all)';
is_deeply [ MxhrLogCheck::unexpected('') ], [], 'an empty log is clean';
ok !MxhrLogCheck::unexpected("[x] [mxhr:debug] error while reading\n"),
   'the word error in a debug line is not an error line';
ok scalar(MxhrLogCheck::unexpected("[x] [core:alert] AH00000: x\n")), 'alert is';

# httpd's word that a pool is full, under each MPM, as tests declare it.
my $full = <<'LOG';
[x] [mpm_event:error] [pid 1:tid 1] AH00484: server reached MaxRequestWorkers setting, consider raising the MaxRequestWorkers setting
[x] [mpm_prefork:error] [pid 1:tid 1] AH00161: server reached MaxRequestWorkers setting, consider raising the MaxRequestWorkers setting
[x] [mpm_worker:error] [pid 1:tid 1] AH00286: server reached MaxRequestWorkers setting, consider raising the MaxRequestWorkers setting
[x] [mpm_worker:error] [pid 1:tid 1] AH00287: server is within MinSpareThreads of MaxRequestWorkers, consider raising the MaxRequestWorkers setting
LOG
is_deeply [ MxhrLogCheck::unexpected($full, MxhrServer::pool_full()) ], [], 'pool_full: the full-pool lines of every MPM';
is scalar(MxhrLogCheck::unexpected($full, MxhrServer::blocking_pool_full('event'))), 4,
   'blocking_pool_full: under event a full pool stays an error';

# The file form scripts/apache-test.sh uses: a log, a patterns file.
{
    my $d = tempdir(CLEANUP => 1);
    open my $fh, '>', "$d/error_log" or die $!;
    print $fh $log;
    close $fh;
    open $fh, '>', "$d/expected" or die $!;
    print $fh "# comment\n\n\\[mxhr:error\\] .*MXHR073\nAH00052\nAH02572\n";
    close $fh;
    my $rc = `$^X -I$FindBin::Bin/../lib -MMxhrLogCheck -e 'exit MxhrLogCheck::main(\@ARGV)' $d/error_log $d/expected 2>&1`;
    is $? >> 8, 1, 'file form: one line left undeclared ([crit]): exit 1';
    open $fh, '>>', "$d/expected" or die $!;
    print $fh "\\[crit\\]\n";
    close $fh;
    $rc = `$^X -I$FindBin::Bin/../lib -MMxhrLogCheck -e 'exit MxhrLogCheck::main(\@ARGV)' $d/error_log $d/expected 2>&1`;
    is $? >> 8, 0, 'file form: all declared: exit 0' or diag $rc;
}

# ---- Real servers in child test scripts --------------------------------
# Each script starts a server whose publisher has no channel (a request
# there logs MXHR073 at level error), or kills one of its children with
# SIGSEGV (AH00052), then stops it one way or another.
my $dir = tempdir(CLEANUP => 1);
# Their failures are meant: no log of theirs is kept.
delete $ENV{MXHR_KEEP_LOGS};
my $lib = "$FindBin::Bin/../lib";
my $head = <<'PERL';
use strict;
use warnings;
use Test::More tests => 1;
use IO::Socket::INET ();
use Time::HiRes qw(sleep time);
use MxhrServer;
my %o = (conf => "<Location /p>\n    SetHandler mxhr-publish\n</Location>\n",
         pool => { children => 1, threads => 4 });
sub provoke {
    my ($srv, $how) = @_;
    if ($how eq 'segv') {
        my ($kid) = $srv->children;
        kill 'SEGV', $kid;
    } else {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $srv->port);
        print $s "POST /p HTTP/1.0\r\nContent-Length: 1\r\n\r\nx";
        local $/;
        my $answer = <$s>;
    }
    my $re = $how eq 'segv' ? qr/exit signal/ : qr/MXHR073/;
    my $end = time + 10;
    sleep 0.05 until $srv->error_log =~ $re || time > $end;
    return $srv->error_log =~ $re;
}
PERL
my %script = (
    # Provoked, not declared, stopped by stop().
    undeclared => "my \$srv = MxhrServer->start(%o);\nok provoke(\$srv, 'error'), 'provoked';\n\$srv->stop;\n",
    # The same, stopped only at the end of the test (END).
    at_end => "our \$srv = MxhrServer->start(%o);\nok provoke(\$srv, 'error'), 'provoked';\n",
    # A child killed by SIGSEGV, not declared.
    segv => "my \$srv = MxhrServer->start(%o);\nok provoke(\$srv, 'segv'), 'provoked';\n\$srv->stop;\n",
    # Declared: at start, and by the method.
    declared => "my \$srv = MxhrServer->start(%o, expect_errors => [qr/MXHR073/]);\n"
              . "ok provoke(\$srv, 'error'), 'provoked';\n"
              . "\$srv->expect_errors('exit signal');\nok(provoke(\$srv, 'segv'), 'provoked') or die;\n\$srv->stop;\n",
);

sub run_script {
    my $name = shift;
    my $code = $head . $script{$name};
    $code =~ s/tests => 1/tests => 2/ if $name eq 'declared';
    open my $fh, '>', "$dir/$name.pl" or die $!;
    print $fh $code;
    close $fh;
    my $out = `$^X -I$lib $dir/$name.pl 2>&1`;
    return ($? >> 8, $out);
}

for my $name (qw(undeclared at_end segv)) {
    my ($rc, $out) = run_script($name);
    isnt $rc, 0, "$name: the test fails" or diag $out;
    like $out, qr/^ok 1 - provoked$/m, "$name: the error was provoked" or diag $out;
    like $out, qr/^not ok 2 - event httpd in .*: no unexpected error or crash in the error log$/m,
         "$name: the check failed it" or diag $out;
    like $out, $name eq 'segv' ? qr/^# .*exit signal/m : qr/^# .*\[mxhr:error\].*MXHR073/m,
         "$name: and showed the line" or diag $out;
}
my ($rc, $out) = run_script('declared');
is $rc, 0, 'declared: the test passes' or diag $out;
like $out, qr/^ok 1 - provoked\nok 2 - provoked$/m, 'declared: both were provoked' or diag $out;
unlike $out, qr/not ok/, 'declared: the check added no failure' or diag $out;
like $out, qr/^1\.\.2$/m, 'declared: and no test (the plans stay)' or diag $out;
