# Every MXHRnnn log tag names one place in the source: an admin who
# greps the code for a tag from the error log finds the line that wrote
# it.
use strict;
use warnings FATAL => 'all';
use FindBin;
use Test::More;

my $src = "$FindBin::Bin/../..";
my %seen;
for my $file (glob "$src/*.c") {
    open my $fh, '<', $file or die "$file: $!";
    (my $name = $file) =~ s{.*/}{};
    while (my $line = <$fh>) {
        while ($line =~ /MXHR_LOGNO\((\d+)\)/g) {
            push @{ $seen{$1 + 0} }, "$name:$.";
        }
    }
}
cmp_ok scalar(keys %seen), '>', 50, 'log tags found in the source';
my @twice = grep { @{ $seen{$_} } > 1 } sort { $a <=> $b } keys %seen;
is_deeply \@twice, [], 'no log tag is used twice'
    or diag join "\n", map { sprintf "MXHR%03d: @{ $seen{$_} }", $_ } @twice;
done_testing;
