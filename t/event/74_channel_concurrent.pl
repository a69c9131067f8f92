# Channels: four publishers at once (separate processes, 250 messages
# each, so the publishes land in several children together) and three
# subscribers: each subscriber gets exactly the 1,000 ids the publishers
# were given, in increasing id order, each with its own body, and each
# publisher's messages in the order it sent them. Under event, worker
# and prefork.
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
    MxhrChannel busy
    MxhrBoundary b
</Location>
<Location /pub>
    SetHandler mxhr-publish
    MxhrChannel busy
    MxhrChannelHistory 5000
</Location>
CONF

my @cases = (
    ['event', { children => 2, threads => 10 }],
    ['worker', { children => 2, threads => 10 }],
    ['prefork', { children => 10, min_spare => 4, max_spare => 16, limit => 16 }],
);
my ($P, $M) = (4, 250);
plan tests => 7 * @cases;

for my $case (@cases) {
    my ($mpm, $pool) = @$case;
    # Children killed on purpose (SIGKILL: httpd may say so), maybe
    # while one changed the store (MXHR050: it is emptied).
    my $srv = MxhrServer->start(mpm => $mpm, pool => $pool, conf => $loc,
                                expect_errors => [qr/exit signal Killed/, qr/MXHR050/,
                                                  MxhrServer::blocking_pool_full($mpm)]);
    my $port = $srv->port;
    my @subs = map { ch_subscribe($port, '/sub', proto => $_ % 2 ? '1.0' : '1.1') } 1 .. 3;
    ok wait_subscribers($port, '/pub', 3), "$mpm: three subscribers";

    my $dir = tempdir(CLEANUP => 1);
    my @kids;
    for my $k (1 .. $P) {
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            open my $out, '>', "$dir/$k" or POSIX::_exit(1);
            for my $i (1 .. $M) {
                my $r = ch_request($port, 'POST', '/pub', body => "p$k-$i", timeout => 10);
                print $out join(' ', $r->{status}, ($r->{json} && $r->{json}{id}) // '-', "p$k-$i"), "\n";
            }
            close $out;
            POSIX::_exit(0);
        }
        push @kids, $pid;
    }
    # Read while they publish; every wait bounded.
    my $end = time + 60;
    while (@kids && time < $end) {
        ch_pump_all(\@subs, 0.05);
        @kids = grep { waitpid($_, POSIX::WNOHANG()) == 0 } @kids;
    }
    kill 'KILL', @kids if @kids;
    waitpid $_, 0 for @kids;
    ok !@kids, "$mpm: $P publishers of $M each finished";

    my (%body_of, %status, @order);
    for my $k (1 .. $P) {
        open my $in, '<', "$dir/$k" or next;
        my @mine;
        while (<$in>) {
            chomp;
            my ($st, $id, $body) = split / /, $_, 3;
            $status{$st}++;
            $body_of{$id} = $body if $id ne '-';
            push @mine, $id;
        }
        push @order, \@mine;
    }
    is_deeply \%status, { 201 => $P * $M }, "$mpm: " . $P * $M . ' publishes, 201 each';
    my @all = sort { id_cmp($a, $b) } grep { parse_id($_) } keys %body_of;
    is scalar(@all), $P * $M, "$mpm: " . $P * $M . ' different ids';
    ok !grep({ !ids_increasing(grep { parse_id($_) } @$_) } @order),
       "$mpm: each publisher's ids increase";

    ch_pump_all(\@subs, 10, sub { !grep { $_->messages < $P * $M } @subs });
    my $exact = grep {
        my @m = $_->messages;
        join(' ', map { $_->{id} // '' } @m) eq join(' ', @all)
            && !grep { ($body_of{ $_->{id} } // '') ne $_->{body} } @m
    } @subs;
    is $exact, 3, "$mpm: every subscriber got exactly those ids, in increasing order, each with its body"
        or diag join ', ', map { scalar($_->messages) . ' messages' } @subs;
    is scalar(grep { !$_->eof && !defined $_->{wire_error} } @subs), 3,
       "$mpm: still open, well-formed";
    $_->close for @subs;
    $srv->stop;
}
