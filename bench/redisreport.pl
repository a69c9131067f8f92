#!/usr/bin/env perl
# Turns bench/redis.sh's result lines into a table of medians over the
# repeats and the ratios: mod_mxhr / nchan through Redis, each without
# Redis, and each through Redis / without.
use strict;
use warnings;

use FindBin;
use lib $FindBin::Bin;
use BenchRuns qw(read_runs median num ms);

my ($runs, $order) = read_runs([qw(n fmt)]);
my %runs = %$runs;
my @order = @$order;

sub metrics {
    my $r = shift;
    return { failed => 1 } if $r->{failed} && $r->{failed} eq 'start';
    my $held = defined $r->{ok} ? $r->{ok} - ($r->{ended} || 0) : undef;
    my $parts = num($r->{parts}) || 0;
    my $cpu_s = num($r->{cpu_ns}) ? $r->{cpu_ns} / 1e9 : undef;
    my $pubs = num($r->{pubs_ok});
    return {
        held   => $held,
        ended  => num($r->{ended}),
        lost   => defined $r->{subs}
                  ? ($r->{refused} || 0) + ($r->{failed} || 0) + ($r->{errors} || 0) : undef,
        recv   => $r->{expected} ? 100 * $parts / $r->{expected} : undef,
        d50    => ms($r->{d_p50}),
        d99    => ms($r->{d_p99}),
        dmax   => ms($r->{d_max}),
        cpu    => ($cpu_s && $parts) ? $cpu_s / ($parts / 1000) : undef,
        rshare => ($cpu_s && $r->{servers} > 1) ? 100 * ($r->{redis_cpu_ns} / 1e9) / $cpu_s : undef,
        kb     => ($held && defined $r->{rss1}) ? ($r->{rss1} - $r->{rss0}) / $held : undef,
        pubs   => $pubs,
        bad    => ($r->{other} || 0) + ($r->{pub_errors} || 0),
        unsent => num($r->{unsent}),
        rtt99  => ms($r->{rtt_p99}),
        cmds   => ($r->{servers} > 1 && $pubs) ? $r->{redis_cmds} / $pubs : undef,
        errlog => num($r->{errlog}),
    };
}
my @cols = (
    [held => 'held', '%d'], [ended => 'ended', '%d'], [lost => 'lost', '%d'],
    [recv => 'recv %', '%.1f'],
    [d50 => 'delay p50', '%.2f'], [d99 => 'p99', '%.2f'], [dmax => 'max', '%.2f'],
    [cpu => 'CPU/1k msg', '%.4f'], [rshare => 'redis %', '%.1f'],
    [kb => 'KB/sub', '%.2f'], [pubs => 'pubs ok', '%d'], [unsent => 'unsent', '%d'],
    [bad => 'pub bad', '%d'], [rtt99 => 'pub p99', '%.2f'],
    [cmds => 'rcmd/pub', '%.1f'], [errlog => 'errlog', '%d'],
);
my @ratios = ([d99 => 'delay p99'], [cpu => 'CPU per delivered message'],
              [kb => 'memory per subscriber']);
my %label = (
    mxhr => 'mxhr 2+redis', nchan => 'nchan 2+redis',
    'mxhr-single' => 'mxhr 1', 'nchan-single' => 'nchan 1',
);
my @kinds = grep { my $k = $_; grep { $runs{$_}{$k} } @order }
            qw(mxhr nchan mxhr-single nchan-single);
my ($nruns) = map { scalar @$_ } map { values %{ $runs{$_} } } @order;
printf "Fan-out through Redis: 1 channel, N subscribers split over two servers sharing one redis-server,\n"
     . "publishing to server A (\"2+redis\"), beside one server without Redis (\"1\")\n"
     . "(medians of %d runs; times in ms; CPU in seconds per 1,000 delivered messages, of BOTH servers'\n"
     . "processes PLUS redis-server's for the 2+redis rows (redis %% = redis-server's share), the one\n"
     . "server's for the 1 rows; KB/sub: servers' RSS only; rcmd/pub: redis commands per publish)\n",
    $nruns || 0;
printf "%-6s %-9s %-14s" . (" %10s" x @cols) . "\n", 'N', 'format', 'server', map { $_->[1] } @cols;
my %med;
for my $key (@order) {
    my ($n, $fmt) = split ' ', $key;
    for my $kind (@kinds) {
        next unless $runs{$key}{$kind};
        my @m = map { metrics($_) } @{ $runs{$key}{$kind} };
        my $failed = grep { $_->{failed} } @m;
        @m = grep { !$_->{failed} } @m;
        for my $col (@cols) {
            $med{$key}{$kind}{ $col->[0] } = median(map { $_->{ $col->[0] } } @m);
        }
        printf "%-6s %-9s %-14s", $n, $fmt, $label{$kind};
        for my $col (@cols) {
            my $v = $med{$key}{$kind}{ $col->[0] };
            printf " %10s", defined $v ? sprintf($col->[2], $v) : '-';
        }
        print $failed ? "  ($failed runs failed to start)\n" : "\n";
    }
    for my $pair (['mxhr', 'nchan'], ['mxhr-single', 'nchan-single'], ['mxhr', 'mxhr-single'],
                  ['nchan', 'nchan-single']) {
        my ($m, $x) = map { $med{$key}{$_} } @$pair;
        next unless $m && $x;
        my @why;
        for my $s ([$pair->[0] => $m], [$pair->[1] => $x]) {
            my $v = $s->[1];
            push @why, "$label{$s->[0]} ended $v->{ended} subscribers" if $v->{ended};
            push @why, sprintf("%s delivered %.1f %%", $label{$s->[0]}, $v->{recv})
                if !$v->{ended} && defined $v->{recv} && $v->{recv} < 99;
            push @why, "$label{$s->[0]} could not take $v->{unsent} publishes in time"
                if $v->{unsent};
        }
        my @parts;
        for my $k (@ratios) {
            my ($a, $b) = ($m->{ $k->[0] }, $x->{ $k->[0] });
            next unless defined $a && defined $b && $b > 0;
            push @parts, sprintf '%s %.2f', $k->[1], $a / $b;
        }
        next unless @parts;
        print "  ratio $label{$pair->[0]} / $label{$pair->[1]}: ", join('; ', @parts),
              @why ? ' (not comparable: ' . join(', ', @why) . ')' : '', "\n";
    }
}
# mod_mxhr's own counters (/server-status): every publish read from
# Redis by both servers, no reconnect.
for my $key (@order) {
    for my $r (@{ $runs{$key}{mxhr} || [] }) {
        next unless defined $r->{pubs_ok};
        my @odd;
        for my $s (qw(a b)) {
            my ($i0, $i1) = map { num($r->{"$s${_}_MxhrRedisMessagesIn"}) } 0, 1;
            my ($c0, $c1) = map { num($r->{"$s${_}_MxhrRedisReconnects"}) } 0, 1;
            push @odd, "server \u$s read no status" unless defined $i0 && defined $i1;
            push @odd, sprintf "server \u$s read %d messages from Redis for %d publishes",
                $i1 - $i0, $r->{pubs_ok} if defined $i0 && defined $i1 && $i1 - $i0 != $r->{pubs_ok};
            push @odd, sprintf "server \u$s reconnected %d times", $c1 - $c0
                if defined $c0 && defined $c1 && $c1 != $c0;
        }
        print "note: mxhr N=$r->{n} $r->{fmt} run $r->{rep}: ", join('; ', @odd), "\n" if @odd;
    }
}
