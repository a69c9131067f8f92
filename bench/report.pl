#!/usr/bin/env perl
# Turns bench/run.sh's result lines into a table of medians over the
# repeats, and the ratios of mod_mxhr (async) to nchan from the same run.
use strict;
use warnings;

my %runs;
while (<>) {
    my %r = /(\w+)=(-?[\d.]+|[\w%+-]+)/g;
    next unless $r{kind};
    push @{ $runs{$r{n}}{$r{kind}} }, \%r;
}

sub median {
    my @v = sort { $a <=> $b } grep { defined } @_;
    return undef unless @v;
    return @v % 2 ? $v[$#v / 2] : ($v[$#v / 2] + $v[$#v / 2 + 1]) / 2;
}

sub metrics {
    my $r = shift;
    my $held = $r->{ok} || 0;
    my %m = (
        held      => $held,
        never     => $r->{never} + $r->{refused},
        received  => $r->{expected} ? 100 * $r->{parts} / $r->{expected} : 0,
        gap50     => $r->{gap_p50},
        gap99     => $r->{gap_p99},
        gapmax    => $r->{gap_max},
        delay50   => $r->{delay_p50},
        delay99   => $r->{delay_p99},
        delaymax  => $r->{delay_max},
        rss       => $held ? ($r->{rss1} - $r->{rss0}) / $held : undef,   # KB
        cpu       => $r->{parts} ? ($r->{cpu} / $r->{hz}) / ($r->{parts} / 1000) : undef,
        # Every held stream gets a section a second in the steady state.
        steady    => ($r->{steady_ms} && $held)
                     ? ($r->{steady_cpu} / $r->{hz}) / ($held * $r->{steady_ms} / 1000 / 1000)
                     : undef,
    );
    return \%m;
}

my @cols = (
    [held => 'held', '%d'], [never => 'never', '%d'],
    [received => 'recv %', '%.1f'],
    [gap50 => 'gap p50', '%d'], [gap99 => 'p99', '%d'], [gapmax => 'max', '%d'],
    [delay50 => 'delay p50', '%d'], [delay99 => 'p99', '%d'], [delaymax => 'max', '%d'],
    [rss => 'KB/stream', '%.1f'], [cpu => 'CPU/1k life', '%.4f'],
    [steady => 'CPU/1k held', '%.4f'],
);
for my $n (sort { $a <=> $b } keys %runs) {
    printf "N = %d streams, 1 s interval (medians of %d runs; times in ms)\n", $n,
        scalar @{ (values %{ $runs{$n} })[0] };
    printf "%-22s" . (" %9s" x @cols) . "\n", 'server', map { $_->[1] } @cols;
    my %med;
    my @kinds = sort { ($a =~ /stuck/) <=> ($b =~ /stuck/) || $a cmp $b } keys %{ $runs{$n} };
    for my $kind (@kinds) {
        my $list = $runs{$n}{$kind} or next;
        my @m = map { metrics($_) } @$list;
        for my $c (@cols) {
            $med{$kind}{$c->[0]} = median(map { $_->{ $c->[0] } } @m);
        }
        printf "%-22s", $kind;
        for my $c (@cols) {
            my $v = $med{$kind}{ $c->[0] };
            printf " %9s", defined $v ? sprintf($c->[2], $v) : '-';
        }
        print "\n";
    }
    for my $suffix ('', grep { $_ } map { /^mxhr-async(\+.*)$/ ? $1 : () } @kinds) {
        my ($m, $x) = ($med{"mxhr-async$suffix"}, $med{"nchan$suffix"});
        next unless $m && $x;
        for my $k ([rss => 'memory per stream'], [cpu => 'CPU per section, streams\' whole life'],
                   [steady => 'CPU per section, streams held'],
                   [gap99 => 'gap p99'], [delay99 => 'delay p99']) {
            my ($a, $b) = ($m->{ $k->[0] }, $x->{ $k->[0] });
            printf "ratio mxhr-async%s / nchan%s, %s: %s\n", $suffix, $suffix, $k->[1],
                ($a && $b) ? sprintf('%.2f', $a / $b) : '-';
        }
    }
    print "\n";
}
