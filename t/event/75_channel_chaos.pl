# Channels while children are killed (SIGKILL, every 150 ms for 2.5 s)
# under three publishers that keep publishing: every publish that was
# answered 201/202 is kept, exactly, in id order (a child killed in the
# middle of a publish, or holding the store's lock, neither loses an
# acknowledged message nor stops the others); the server publishes
# and streams afterwards. Under event, worker and prefork.
use strict;
use warnings FATAL => 'all';
use Test::More;
use POSIX ();
use Time::HiRes qw(time sleep);
use File::Temp qw(tempdir);
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrServer;
use MxhrChannel;

my $loc = <<'CONF';
<Location /sub>
    SetHandler mxhr-stream
    MxhrChannel chaos
    MxhrBoundary b
</Location>
<Location /pub>
    SetHandler mxhr-publish
    MxhrChannel chaos
    MxhrChannelHistory 100000
</Location>
CONF

my @cases = (
    ['event', { children => 2, threads => 10, limit => 6 }],
    ['worker', { children => 2, threads => 10, limit => 6, max_spare => 40 }],
    ['prefork', { children => 8, min_spare => 6, max_spare => 16, limit => 16 }],
);
my $P = 3;
plan tests => 7 * @cases;

for my $case (@cases) {
    my ($mpm, $pool) = @$case;
    # Children killed on purpose (SIGKILL: httpd may say so), maybe
    # while one changed the store (MXHR050: it is emptied).
    my $srv = MxhrServer->start(mpm => $mpm, pool => $pool, conf => $loc,
                                expect_errors => [qr/exit signal Killed/, qr/MXHR050/,
                                                  MxhrServer::blocking_pool_full($mpm)]);
    my $port = $srv->port;
    my $dir = tempdir(CLEANUP => 1);
    my @kids;
    my $stop_at = time + 3;
    for my $k (1 .. $P) {
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            open my $out, '>', "$dir/$k" or POSIX::_exit(1);
            $out->autoflush(1);
            my $i = 0;
            while (time < $stop_at) {
                $i++;
                my $r = ch_request($port, 'POST', '/pub', body => "c$k-$i", timeout => 10);
                print $out join(' ', $r->{status}, ($r->{json} && $r->{json}{id}) // '-', "c$k-$i"), "\n";
            }
            POSIX::_exit(0);
        }
        push @kids, $pid;
    }
    my $killed = 0;
    my $t_end = time + 2.5;
    while (time < $t_end) {
        sleep 0.15;
        my @c = $srv->children;
        next unless @c;
        $killed += kill 'KILL', $c[int rand @c];
    }
    my $end = time + 30;
    while (@kids && time < $end) {
        @kids = grep { waitpid($_, POSIX::WNOHANG()) == 0 } @kids;
        sleep 0.05;
    }
    kill 'KILL', @kids if @kids;
    waitpid $_, 0 for @kids;
    ok !@kids, "$mpm: $P publishers ran 3 s while $killed children were killed";

    my (%acked, %status, $answered);
    for my $k (1 .. $P) {
        open my $in, '<', "$dir/$k" or next;
        while (<$in>) {
            chomp;
            my ($st, $id, $body) = split / /, $_, 3;
            $status{$st}++;
            $acked{$id} = $body if $st =~ /^20[12]$/ && parse_id($id);
        }
    }
    my $n_acked = keys %acked;
    cmp_ok $n_acked, '>', 50, "$mpm: $n_acked publishes acknowledged ("
        . join(', ', map { "$_: $status{$_}" } sort keys %status) . ')';

    # Afterwards: the server publishes and streams.
    my $r;
    wait_until(10, sub { $r = ch_request($port, 'POST', '/pub', body => 'final', timeout => 5);
                         $r->{status} =~ /^20[12]$/ });
    like $r->{status}, qr/^20[12]$/, "$mpm: a publish afterwards is answered ($r->{status})";
    my $final = $r->{json} && $r->{json}{id} // 'none';

    # Everything kept, from the oldest.
    my $s = eval { ch_subscribe($port, '/sub', headers => { 'Last-Event-ID' => 'from-the-start' }) };
    my @m;
    if ($s) {
        $s->pump(15, sub { grep { ($_->{id} // '') eq $final } $_[0]->messages });
        @m = $s->messages;
        $s->close;
    }
    ok @m && $m[-1]{id} eq $final, "$mpm: a subscriber reads the whole history to 'final' ("
        . scalar(@m) . ' messages)';
    my %got = map { ($_->{id} // '') => $_->{body} } @m;
    my @missing = grep { !exists $got{$_} || $got{$_} ne $acked{$_} } sort keys %acked;
    is scalar(@missing), 0, "$mpm: every acknowledged message is kept, exact"
        . (@missing ? " (missing or wrong: @missing[0 .. ($#missing < 4 ? $#missing : 4)])" : '');
    ok ids_increasing(map { $_->{id} } @m)
       && !grep({ $_->{body} !~ /^(?:c\d+-\d+|final)\z/ } @m),
       "$mpm: in increasing id order, every body one that was published";
    unlike $srv->error_log, qr/Segmentation|exit signal (?!Killed)|\[core:emerg\]/,
           "$mpm: no child died but those killed";
    $srv->stop;
}
