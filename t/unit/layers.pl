#!/usr/bin/env perl
# Which of mod_mxhr's source files calls which, read from the object
# files' symbols (nm), and whether any call runs upward: the files must
# form layers, i.e. the "calls" graph has no cycle. References to the
# module record (mxhr_module, for log lines and configs) are not calls.
#   t/unit/layers.pl [DIR-WITH-.o-FILES]   prints the graph; TAP with --tap
use strict;
use warnings;

my $tap = @ARGV && $ARGV[0] eq '--tap' ? shift : 0;
my $dir = shift // '.libs';
my @objs = glob "$dir/mod_mxhr.o $dir/mxhr_*.o";
my (%def, %und);
for my $o (@objs) {
    (my $f = $o) =~ s{.*/}{};
    $f =~ s/\.o$//;
    open my $nm, '-|', 'nm', $o or die "nm $o: $!";
    while (<$nm>) {
        if (/^\S+\s+[TDBRG]\s+(\S+)/) { $def{$1} = $f }
        elsif (/^\s+U\s+(\S+)/)      { push @{ $und{$f} }, $1 }
    }
    close $nm or die "nm $o failed\n";
}
my %edge;
for my $f (sort keys %und) {
    for my $sym (@{ $und{$f} }) {
        next if $sym eq 'mxhr_module';
        my $t = $def{$sym} or next;
        $edge{$f}{$t}{$sym} = 1 unless $t eq $f;
    }
}
my %reach;
for my $f (keys %edge) {
    my (@q, %seen) = ($f);
    while (@q) {
        my $x = shift @q;
        for my $y (keys %{ $edge{$x} || {} }) {
            push @q, $y unless $seen{$y}++;
        }
    }
    $reach{$f} = \%seen;
}
my @cycles;
for my $a (sort keys %reach) {
    for my $b (sort keys %{ $reach{$a} }) {
        next unless $a lt $b && $reach{$b} && $reach{$b}{$a};
        my $how = join '; ', map {
            my ($x, $y) = @$_;
            $edge{$x}{$y} ? "$x calls " . join(',', sort keys %{ $edge{$x}{$y} })
                          : ();
        } [$a, $b], [$b, $a];
        push @cycles, "$a <-> $b" . ($how ? " ($how)" : '');
    }
}
if ($tap) {
    print "1..2\n";
    print @objs >= 5 ? "ok 1 - read " . scalar(@objs) . " object files\n"
                     : "not ok 1 - only " . scalar(@objs) . " object files in $dir\n";
    print @cycles ? "not ok 2 - calls run upward\n" : "ok 2 - no call runs upward\n";
    print "# cycle: $_\n" for @cycles;
    for my $f (sort keys %edge) {
        print "# $f -> ", join(', ', sort keys %{ $edge{$f} }), "\n";
    }
    exit 0;
}
for my $f (sort keys %edge) {
    print "$f -> ", join(', ', sort keys %{ $edge{$f} }), "\n";
}
print "cycle: $_\n" for @cycles;
exit(@cycles ? 1 : 0);
