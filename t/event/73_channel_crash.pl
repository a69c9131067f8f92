# Channels when a child dies holding subscribers (SIGKILL: no cleanup
# runs): the channel stops counting them (JSON subscribers, mod_status
# MxhrSubscribers), so that a publish with nobody left answers 202, not
# 201; the survivors in other children go on; the store (shared memory)
# is intact: a killed subscriber resuming with its last id misses
# nothing. Under event, worker and prefork.
use strict;
use warnings FATAL => 'all';
use Test::More;
use Time::HiRes qw(time sleep);
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrServer;
use MxhrChannel;

my $loc = <<'CONF';
<Location /sub>
    SetHandler mxhr-stream
    MxhrChannel crash
    MxhrBoundary b
</Location>
<Location /pub>
    SetHandler mxhr-publish
    MxhrChannel crash
</Location>
CONF

# Room for the children that replace the dead.
my @cases = (
    ['event', { children => 2, threads => 10, limit => 4 }, 60],
    ['worker', { children => 2, threads => 10, limit => 4, max_spare => 40 }, 14],
    ['prefork', { children => 6, min_spare => 4, max_spare => 16, limit => 16 }, 8],
);
plan tests => 12 * @cases;

sub bodies { join ',', map { $_->{body} } $_[0]->messages }

for my $case (@cases) {
    my ($mpm, $pool, $max) = @$case;
    # Children killed on purpose (SIGKILL: httpd may say so), maybe
    # while one changed the store (MXHR050: it is emptied).
    my $srv = MxhrServer->start(mpm => $mpm, pool => $pool, conf => $loc,
                                expect_errors => [qr/exit signal Killed/, qr/MXHR050/,
                                                  MxhrServer::blocking_pool_full($mpm)]);
    my $port = $srv->port;
    my (@subs, @pids, %by);
    while (@subs < $max) {
        push @subs, ch_subscribe($port, '/sub') for 1 .. 4;
        ch_pump_all(\@subs, 0.1);
        @pids = holders($srv, @subs);
        %by = ();
        $by{$_}++ for grep { $_ } @pids;
        last if keys %by >= 2;
    }
    my $n = @subs;
    ok wait_subscribers($port, '/pub', $n, 5) && keys(%by) >= 2,
       "$mpm: $n subscribers in " . keys(%by) . ' children';
    my $r = ch_request($port, 'POST', '/pub', body => 'one');
    ch_pump_all(\@subs, 3, sub { !grep { $_->messages < 1 } @subs });
    is scalar(grep { bodies($_) eq 'one' } @subs), $n, "$mpm: all got 'one'";
    my $id1 = $r->{json} && $r->{json}{id};

    # One holder killed.
    my ($victim) = sort { $by{$b} <=> $by{$a} } keys %by;
    my @dead = grep { $pids[$_] == $victim } 0 .. $#subs;
    my @live = grep { $pids[$_] != $victim } 0 .. $#subs;
    kill 'KILL', $victim;
    ch_pump_all(\@subs, 5, sub { !grep { !$subs[$_]->eof } @dead });
    is scalar(grep { $subs[$_]->eof } @dead), scalar @dead,
       "$mpm: child $victim killed, its " . @dead . ' subscribers cut';
    my $w = wait_subscribers($port, '/pub', scalar @live, 3);
    is $w && $w->{subscribers}, scalar @live, "$mpm: the channel counts the " . @live . ' left';
    my $st = status_auto($port);
    is $st->{MxhrSubscribers}, scalar @live, "$mpm: so does MxhrSubscribers";
    $r = ch_request($port, 'POST', '/pub', body => 'two');
    is $r->{status}, 201, "$mpm: publish: 201";
    ch_pump_all(\@subs, 3, sub { !grep { $subs[$_]->messages < 2 } @live });
    is scalar(grep { bodies($subs[$_]) eq 'one,two' } @live), scalar @live,
       "$mpm: the survivors got 'two'";

    # Every holder killed.
    my @holders = grep { $_ && kill 0, $_ } keys %{{ map { $_ => 1 } @pids[@live] }};
    kill 'KILL', @holders;
    ch_pump_all(\@subs, 5, sub { !grep { !$_->eof } @subs });
    is scalar(grep { $_->eof } @subs), $n, "$mpm: every holder killed (@holders), every stream cut";
    $w = wait_subscribers($port, '/pub', 0, 3);
    is $w && $w->{subscribers}, 0, "$mpm: the channel counts nobody";
    $r = ch_request($port, 'POST', '/pub', body => 'three');
    is $r->{status}, 202, "$mpm: a publish with nobody left: 202";

    # The store is whole: resuming from 'one' gets 'two' and 'three'.
    my $again = eval { ch_subscribe($port, '/sub', headers => { 'Last-Event-ID' => $id1 // 'none' }) };
    ok $again && !defined $again->header('mxhr-history') && $again->wait_messages(2, 3)
       && bodies($again) eq 'two,three',
       "$mpm: a killed subscriber resumes with its last id, nothing lost";
    $again->close if $again;
    unlike $srv->error_log, qr/Segmentation|\[core:(?:crit|emerg)\]/,
           "$mpm: nothing crashed but what was killed";
    $srv->stop;
}
