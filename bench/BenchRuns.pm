package BenchRuns;
# What the benchmarks' reports share (bench/chreport.pl,
# bench/redisreport.pl): the result lines ("key=value ..."), grouped by
# configuration and kind in the order they first came, and medians.
use strict;
use warnings;
use Exporter 'import';
our @EXPORT_OK = qw(read_runs median num ms);

# Reads the result lines of the files in @ARGV (or standard input):
# returns (\%runs, \@order), $runs{$key}{$kind} being the lines of one
# configuration (the values of @$fields, joined by a space) and kind.
sub read_runs {
    my ($fields) = @_;
    my (%runs, @order);
    while (defined(my $line = <ARGV>)) {
        my %r = $line =~ /(\w+)=(\S+)/g;
        next unless $r{test} && $r{kind};
        $r{fmt} ||= 'multipart';        # lines from before there was SSE
        my $key = join ' ', map { $r{$_} // '' } @$fields;
        push @order, $key unless $runs{$key};
        push @{ $runs{$key}{ $r{kind} } }, \%r;
    }
    return (\%runs, \@order);
}

sub median {
    my @v = sort { $a <=> $b } grep { defined } @_;
    return undef unless @v;
    return @v % 2 ? $v[$#v / 2] : ($v[$#v / 2] + $v[$#v / 2 + 1]) / 2;
}
sub num { my $v = shift; defined $v && $v =~ /^-?[\d.]+$/ ? $v : undef }
sub ms { my $v = num(shift); defined $v && $v >= 0 ? $v / 1000 : undef }

1;
