#!/usr/bin/env perl
# Turns bench/channels.sh's result lines into tables of medians over the
# repeats, the ratios mxhr / nchan from the same invocation (per
# subscriber format: multipart, sse), and the issue's targets: delay p99
# <= nchan's (fan-out 1k and 10k), CPU per delivered message <= nchan's,
# publishes/s >= nchan's.
use strict;
use warnings;

use FindBin;
use lib $FindBin::Bin;
use BenchRuns qw(read_runs median num ms);

my ($runs, $order) = read_runs([qw(test n c mode arg fmt)]);
my %runs = %$runs;
my @order = @$order;

sub metrics {
    my $r = shift;
    return { failed => 1 } if $r->{failed};
    my $held = defined $r->{ok} ? $r->{ok} - ($r->{ended} || 0) : undef;
    my $parts = num($r->{parts}) || 0;
    my $cpu_s = num($r->{cpu_ns}) ? $r->{cpu_ns} / 1e9 : undef;
    my %m = (
        held    => $held,
        ended   => num($r->{ended}),
        # refused includes badtype (a 200 in another format)
        lost    => defined $r->{subs}
                   ? ($r->{refused} || 0) + ($r->{failed} || 0) + ($r->{errors} || 0) : undef,
        recv    => $r->{expected} ? 100 * $parts / $r->{expected} : undef,
        d50     => ms($r->{d_p50}),
        d99     => ms($r->{d_p99}),
        dmax    => ms($r->{d_max}),
        # server CPU seconds per 1,000 messages delivered
        cpu     => ($cpu_s && $parts) ? $cpu_s / ($parts / 1000) : undef,
        # ... and per 1,000 publishes answered 201/202
        cpupub  => ($cpu_s && $r->{pubs_ok}) ? $cpu_s / ($r->{pubs_ok} / 1000) : undef,
        kb      => ($held && defined $r->{rss1}) ? ($r->{rss1} - $r->{rss0}) / $held : undef,
        pubs    => num($r->{pubs_ok}),
        bad     => ($r->{other} || 0) + ($r->{pub_errors} || 0),
        pps     => $r->{pub_ms} ? $r->{pubs_ok} / ($r->{pub_ms} / 1000) : undef,
        unsent  => num($r->{unsent}),
        rtt50   => ms($r->{rtt_p50}),
        rtt99   => ms($r->{rtt_p99}),
        errlog  => num($r->{errlog}),
    );
    return \%m;
}

my %title = (
    fanout  => 'Fan-out: 1 channel, N subscribers, R publishes a second',
    many    => 'Many channels: N subscribers on N channels, R publishes a second spread over them',
    tp      => 'Publish throughput: closed-loop publishers on keep-alive connections, N subscribers on the channel',
    prefork => 'Prefork MPM (mod_mxhr only): N subscribers on 1 channel, one process each',
);
my @subcols = (
    [held => 'held', '%d'], [ended => 'ended', '%d'], [lost => 'lost', '%d'],
    [recv => 'recv %', '%.1f'],
    [d50 => 'delay p50', '%.2f'], [d99 => 'p99', '%.2f'], [dmax => 'max', '%.2f'],
    [cpu => 'CPU/1k msg', '%.4f'], [kb => 'KB/sub', '%.2f'],
    [pubs => 'pubs ok', '%d'], [unsent => 'unsent', '%d'], [bad => 'pub bad', '%d'],
    [rtt99 => 'pub p99', '%.2f'],
    [errlog => 'errlog', '%d'],
);
my @tpcols = (
    [pps => 'pubs/s', '%.0f'], [cpupub => 'CPU/1k pub', '%.4f'],
    [rtt50 => 'pub p50', '%.2f'], [rtt99 => 'pub p99', '%.2f'], [bad => 'pub bad', '%d'],
    [held => 'held', '%d'], [ended => 'ended', '%d'], [recv => 'recv %', '%.1f'],
    [d99 => 'delay p99', '%.2f'], [cpu => 'CPU/1k msg', '%.4f'],
    [errlog => 'errlog', '%d'],
);
my @ratios = (
    [d99 => 'delay p99', 'le'], [cpu => 'CPU per delivered message', 'le'],
    [kb => 'memory per subscriber', ''], [pps => 'publishes/s', 'ge'],
    [cpupub => 'CPU per publish', ''],
);

my (%med, @targets, $last_test);
for my $key (@order) {
    my ($test, $n, $c, $mode, $arg, $fmt) = split ' ', $key;
    my $cols = $test eq 'tp' ? \@tpcols : \@subcols;
    if (!defined $last_test || $last_test ne $test) {
        my ($nruns) = map { scalar @$_ } values %{ $runs{$key} };
        print "\n" if defined $last_test;
        printf "%s (medians of %d runs; times in ms, CPU in server seconds)\n",
            $title{$test} || $test, $nruns;
        printf "%-6s %-6s %-6s %-9s %-6s" . (" %10s" x @$cols) . "\n",
            'N', $test eq 'many' ? 'chans' : 'ch', $mode eq 'loop' ? 'conns' : 'pub/s',
            'format', 'server', map { $_->[1] } @$cols;
        $last_test = $test;
    }
    for my $kind (sort keys %{ $runs{$key} }) {
        my @m = map { metrics($_) } @{ $runs{$key}{$kind} };
        my $failed = grep { $_->{failed} } @m;
        @m = grep { !$_->{failed} } @m;
        for my $col (@$cols, @ratios, [unsent => '']) {
            $med{$key}{$kind}{ $col->[0] } = median(map { $_->{ $col->[0] } } @m);
        }
        printf "%-6s %-6s %-6s %-9s %-6s", $n, $c, $arg, $fmt, $kind;
        for my $col (@$cols) {
            my $v = $med{$key}{$kind}{ $col->[0] };
            printf " %10s", defined $v ? sprintf($col->[2], $v) : '-';
        }
        print $failed ? "  ($failed runs failed to start)\n" : "\n";
    }
    my ($m, $x) = ($med{$key}{mxhr}, $med{$key}{nchan});
    next unless $m && $x;
    # Not the same work when a server ended subscribers or left
    # messages undelivered.
    my @why;
    for my $s ([mxhr => $m], [nchan => $x]) {
        my $v = $s->[1];
        push @why, "$s->[0] ended $v->{ended} subscribers" if $v->{ended};
        push @why, sprintf("%s delivered %.1f %%", $s->[0], $v->{recv})
            if !$v->{ended} && defined $v->{recv} && $v->{recv} < 99;
        push @why, "$s->[0] could not take $v->{unsent} publishes in time"
            if $v->{unsent};
    }
    my $apart = @why ? ' (not comparable: ' . join(', ', @why) . ')' : '';
    my @parts;
    for my $k (@ratios) {
        my ($a, $b) = ($m->{ $k->[0] }, $x->{ $k->[0] });
        next unless defined $a && defined $b && $b > 0;
        my $ratio = $a / $b;
        push @parts, sprintf '%s %.2f', $k->[1], $ratio;
        next unless $k->[2];
        # The issue's targets: delay p99 on fan-out, CPU everywhere a
        # message is delivered, publishes/s on the throughput rows.
        next if $k->[0] eq 'd99' && $test ne 'fanout';
        next if $k->[0] eq 'pps' && $test ne 'tp';
        my $met = $k->[2] eq 'le' ? $ratio <= 1 : $ratio >= 1;
        push @targets, sprintf "%-50s %-26s %6.2f  %s",
            "$test N=$n ch=$c " . ($mode eq 'loop' ? "conns=$arg" : "pub/s=$arg")
                . " $fmt",
            $k->[1], $ratio, $apart ? "not comparable: " . substr($apart, 18, -1) : $met ? 'met' : 'NOT met';
    }
    print "  ratio mxhr / nchan ($fmt): ", join('; ', @parts), "$apart\n" if @parts;
}
if (@targets) {
    print "\nTargets (ratio mxhr / nchan; delay and CPU met at <= 1, publishes/s at >= 1)\n";
    print "$_\n" for @targets;
}
