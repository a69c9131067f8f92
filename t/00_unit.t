# The C unit tests of the pure files (they print TAP): each binary's
# results, one subtest per binary.
use strict;
use warnings FATAL => 'all';
use FindBin;
use Test::More;

my @bins = map { "$FindBin::Bin/unit/${_}_test" } qw(value accept ids frame store);
plan tests => scalar @bins;
for my $bin (@bins) {
    subtest $bin => sub {
        -x $bin or return fail("missing $bin: build first (make)");
        open my $out, '-|', $bin or return fail("cannot run $bin: $!");
        my $plan;
        while (my $line = <$out>) {
            chomp $line;
            if ($line =~ /^(not )?ok \d+ - (.*)$/) {
                ok !$1, $2;
            }
            elsif ($line =~ /^1\.\.(\d+)$/) {
                $plan = $1;
            }
            elsif ($line =~ /^#/) {
                diag $line;
            }
        }
        close $out;
        is $?, 0, "$bin exits 0";
        ok defined $plan, "$bin printed its plan";
        done_testing;
    };
}
