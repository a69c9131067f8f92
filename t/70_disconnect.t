# On the blocking path (a virtual host with MxhrAsync off, so under
# every MPM), a client that goes away frees its worker at once, and
# nothing is logged about it above TRACE level. The event MPM's own
# path is tested in t/event/20_disconnect.pl.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time sleep);
use MxhrTest;

plan tests => 7;

my %v = (vhost => 'mxhr_blocking');

# Fill every worker (t/conf/extra.conf.in: 12 under prefork, 20 threads
# otherwise) with streams whose next section is 10s away, until one more
# stream is left waiting: that proves the pool is full.
my $log0 = error_log_size();
my (@held, $queued);
for (1 .. 40) {
    my $s = stream_open('/long', timeout => 1.5, lazy => 1, %v);
    if ($s->read_until(1.5, sub { $_[0]->parts_complete >= 1 })) {
        push @held, $s;
    }
    else {
        $queued = $s;
        last;
    }
}
cmp_ok scalar @held, '>=', 10, scalar(@held) . ' streams hold the workers';
ok $queued, 'one more stream waits for a worker';

# Drop them all. A write would fail only at the next section (7s away
# at least): the workers must be freed sooner, when the close is seen.
my $t0 = time;
$_->close for @held;
ok $queued && $queued->read_until(5, sub { $_[0]->parts_complete >= 1 }),
   'the waiting stream is served after the drop';
my $waited = time - $t0;
cmp_ok $waited, '<', 2, sprintf 'within 2s, before any section was due (%.2fs)',
       $waited;
$queued->close if $queued;

# Open and drop many more, quickly.
for (1 .. 40) {
    my $x = stream_open('/long', %v);
    $x->close;
}
my $s = stream_open('/stream', timeout => 10, %v);
is $s->status, 200, 'still serving after 40 more open-and-drop streams';
ok $s->read_all(5), 'and streaming to the end';

sleep 0.5;
my @loud = grep { /\[mxhr:(?:emerg|alert|crit|error|warn|notice|info)\]/
                  || /\[core:(?:error|warn)\]/ }
           split /\n/, error_log_since($log0);
is scalar @loud, 0, 'nothing logged above debug for departed clients'
    or diag join "\n", @loud;
