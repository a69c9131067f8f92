package MxhrLogCheck;
# What a private test server's error log may not hold when it stops: a
# line at level error, crit, alert or emerg (whatever the module), or a
# child that died of a signal (httpd logs those at notice: AH00051,
# AH00052 "exit signal", AH00060 in the parent). A test that provokes
# such lines on purpose (a crash, a bad request, Redis going away)
# declares them as patterns; every other one fails the test.
#
#   my @bad = MxhrLogCheck::unexpected($log_text, qr/MXHR080/, 'AH00052');
#   MxhrLogCheck::check($log_text, $name, @expected)   one test, failed
#                                                      with the lines
#   perl -It/lib -MMxhrLogCheck -e 'exit MxhrLogCheck::main(@ARGV)' \
#       LOG [PATTERNS_FILE]      for scripts: prints the unexpected lines,
#                                exits 1 when there are some
use strict;
use warnings FATAL => 'all';

our $BAD = qr{
    \[(?:[\w.-]+:)?(?:error|crit|alert|emerg)\]
  | \bexit\ signal\b | \bAH0005[012]\b | \bAH00060\b
  | \bSegmentation\ fault\b | \bpossible\ coredump\b
}x;

# Patterns as given: a qr// as it is, a string as a literal.
sub _patterns {
    return map { ref $_ eq 'Regexp' ? $_ : qr/\Q$_\E/ } @_;
}

# The log's lines that match $BAD and none of the expected patterns.
sub unexpected {
    my ($text, @expected) = @_;
    my @re = _patterns(@expected);
    my @bad;
    for my $line (split /\n/, $text // '') {
        next unless $line =~ $BAD;
        next if grep { $line =~ $_ } @re;
        push @bad, $line;
    }
    return @bad;
}

# Fails one test (named $name) with the unexpected lines, at most 20
# shown; passes silently, adding no test, when there are none, so that
# the tests' plans do not change.
sub check {
    my ($text, $name, @expected) = @_;
    my @bad = unexpected($text, @expected);
    return 1 unless @bad;
    require Test::Builder;
    my $tb = Test::Builder->new;
    # Reported at the line that stopped the server (check, stop, caller).
    local $Test::Builder::Level = $Test::Builder::Level + 2;
    $tb->ok(0, "$name: no unexpected error or crash in the error log");
    my $more = @bad > 20 ? "\n... and " . (@bad - 20) . " more" : '';
    $tb->diag(join("\n", 'unexpected lines:', @bad[0 .. ($#bad < 19 ? $#bad : 19)]) . $more);
    return 0;
}

# A file of expected patterns: one Perl regex per line; blank lines and
# lines starting with # (what provokes the next one) are skipped.
sub read_patterns {
    my $file = shift;
    open my $fh, '<', $file or die "MxhrLogCheck: $file: $!\n";
    my @re;
    while (my $line = <$fh>) {
        chomp $line;
        next if $line =~ /\A\s*(?:#|\z)/;
        push @re, qr/$line/;
    }
    return @re;
}

sub main {
    my ($log, $patterns) = @_;
    my $text = do {
        open my $fh, '<', $log or die "MxhrLogCheck: $log: $!\n";
        local $/;
        <$fh> // '';
    };
    my @bad = unexpected($text, $patterns ? read_patterns($patterns) : ());
    return 0 unless @bad;
    print STDERR "$log: unexpected error or crash lines (declare the ones a "
               . "test provokes on purpose" . ($patterns ? " in $patterns" : '')
               . "):\n", map { "  $_\n" } @bad;
    return 1;
}

1;
