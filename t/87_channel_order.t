# Channels: 1,000 messages published as fast as one client can
# (MxhrChannelHistory 2000) reach two subscribers all, in order, ids
# strictly increasing, none twice; a late subscriber resuming from the
# first id gets the other 999 from the history, in the same order.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time);
use MxhrTest qw(server_port);
use MxhrChannel;

plan tests => 17;

my $N = 1000;
my $port = server_port();
my $ch = uniq_name('order');
my $pub = "/ch/pub?id=$ch";
my @s = (ch_subscribe($port, "/ch/sub?id=$ch"),
         ch_subscribe($port, "/ch/sub?id=$ch", proto => '1.0'));
ok wait_subscribers($port, $pub, 2), 'two subscribers';

my (@ids, %status);
my $t0 = time;
for my $i (1 .. $N) {
    my $r = ch_request($port, 'POST', $pub, body => "message $i", type => 'text/plain');
    $status{ $r->{status} }++;
    push @ids, $r->{json} && $r->{json}{id};
    # Read as we go: a subscriber is a client that reads.
    ch_pump_all(\@s, 0) if $i % 20 == 0;
}
my $took = time - $t0;
is_deeply \%status, { 201 => $N }, "$N publishes answered 201";
ok ids_increasing(@ids), 'the publisher\'s ids increase strictly';
ok ch_pump_all(\@s, 10, sub { !grep { $_->messages < $N } @s }),
   sprintf 'both subscribers got %d messages (published in %.1fs)', $N, $took;
for my $k (0, 1) {
    my $s = $s[$k];
    my $name = ('HTTP/1.1', 'HTTP/1.0')[$k];
    my @m = $s->messages;
    is scalar(@m), $N, "$name: exactly $N";
    is_deeply [ map { $_->{body} } @m ], [ map { "message $_" } 1 .. $N ], "$name: in order";
    my @got = map { $_->{id} } @m;
    ok ids_increasing(@got), "$name: Mxhr-Id strictly increasing";
    is_deeply \@got, \@ids, "$name: the publisher's ids, none twice, none missing";
    ok !defined $s->{wire_error}, "$name: wire format" or diag $s->{wire_error};
}
ok !$s[0]->eof && !$s[1]->eof, 'neither subscriber was ended';
$_->close for @s;

my $late = ch_subscribe($port, "/ch/sub?id=$ch", headers => { 'Last-Event-ID' => $ids[0] // 'x' });
ok $late->wait_messages($N - 1, 10), 'a late subscriber resumes from the first id';
is_deeply [ map { $_->{id} } $late->messages ], [ @ids[1 .. $N - 1] ],
          'and gets the other 999 kept, in order';
$late->close;
