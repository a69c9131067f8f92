# Channels: a message published the moment a subscriber has its
# response headers is "published after connecting": it must arrive,
# every time (no window between reading the channel's position and
# being counted in it). 60 rounds, each on a fresh subscription.
# Then an EventSource-like client that reconnects again and again with
# its last id while a publisher publishes without pause: every message
# exactly once, in order, no gap between connections.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use MxhrTest qw(server_port);
use MxhrChannel;
use POSIX ();
use Time::HiRes qw(time sleep);
use File::Temp qw(tempdir);

plan tests => 7;

my $port = server_port();
my $ch = uniq_name('race');
my ($got, $status201, @miss) = (0, 0);
for my $i (1 .. 60) {
    my $s = ch_subscribe($port, "/ch/sub?id=$ch", proto => $i % 2 ? '1.0' : '1.1');
    my $r = ch_request($port, 'POST', "/ch/pub?id=$ch", body => "r$i");
    $status201++ if $r->{status} == 201;
    if ($s->pump(2, sub { grep { $_->{body} eq "r$i" } $_[0]->messages })) {
        $got++;
    }
    else {
        push @miss, $i;
    }
    $s->close;
}
is $got, 60, 'published right after the headers came: received every time'
    . (@miss ? " (missed in rounds @miss)" : '');
is $status201, 60, 'and the publisher saw the subscriber every time (201)';

# Resuming: the same with the last id.
my $last = ch_request($port, 'GET', "/ch/pub?id=$ch")->{json}{last_message_id} // 'none';
@miss = ();
for my $i (1 .. 20) {
    my $s = ch_subscribe($port, "/ch/sub?id=$ch", headers => { 'Last-Event-ID' => $last });
    my $r = ch_request($port, 'POST', "/ch/pub?id=$ch", body => "q$i");
    push @miss, $i unless $s->pump(2, sub { grep { $_->{body} eq "q$i" } $_[0]->messages })
        && join(',', map { $_->{body} } $s->messages) eq "q$i";
    $last = $r->{json} && $r->{json}{id} // $last;
    $s->close;
}
is scalar(@miss), 0, 'resuming from the last id, then a publish: exactly it, every time'
    . (@miss ? " (wrong in rounds @miss)" : '');

# Reconnecting with the last id while a publisher does not stop.
my $rc = uniq_name('reconnect');
my $start = ch_request($port, 'POST', "/ch/pub?id=$rc", body => 'start')->{json}{id} // 'none';
my $dir = tempdir(CLEANUP => 1);
my $pid = fork // die "fork: $!";
if (!$pid) {
    open my $out, '>', "$dir/ids" or POSIX::_exit(1);
    my $end = time + 2;
    for my $i (1 .. 4000) {
        last if time > $end;
        my $r = ch_request($port, 'POST', "/ch/pub?id=$rc", body => "n$i", timeout => 5);
        print $out (($r->{json} && $r->{json}{id}) // '-'), " $r->{status} n$i\n";
    }
    close $out;
    POSIX::_exit(0);
}
my ($from, $sessions, $lost, @seen) = ($start, 0, 0);
my $t_end = time + 30;
while (time < $t_end) {
    my $alive = waitpid($pid, POSIX::WNOHANG()) == 0;
    my $s = eval { ch_subscribe($port, "/ch/sub?id=$rc", proto => $sessions % 2 ? '1.0' : '1.1',
                                headers => { 'Last-Event-ID' => $from }) } or next;
    $sessions++;
    $lost++ if defined $s->header('mxhr-history');
    $s->pump($alive ? rand(0.02) : 0.5);
    my @m = $s->messages;
    $s->close;
    push @seen, @m;
    $from = $m[-1]{id} if @m;
    last if !$alive;
}
waitpid $pid, 0 if waitpid($pid, POSIX::WNOHANG()) == 0 && kill('KILL', $pid);
my @acked;
if (open my $in, '<', "$dir/ids") {
    @acked = map { [ split ' ' ] } <$in>;
}
ok @acked > 100 && !grep({ $_->[1] !~ /^20[12]$/ } @acked),
   scalar(@acked) . " publishes during $sessions reconnections, all 201/202";
is $lost, 0, 'no reconnection was told Mxhr-History: lost';
my @want = map { "$_->[0] $_->[2]" } @acked;
my @have = map { "$_->{id} $_->{body}" } @seen;
my $i = 0;
$i++ while $i < @want && $i < @have && $want[$i] eq $have[$i];
is scalar(@have), scalar(@want), 'as many received as published';
ok $i == @want && $i == @have, 'every message exactly once, in order, across the reconnections'
    . ($i < @want || $i < @have
       ? " (first difference at $i: want '" . ($want[$i] // 'end') . "', got '" . ($have[$i] // 'end') . "')" : '');
