# Channels in /server-status?auto: MxhrChannels, MxhrMessagesKept,
# MxhrStoreBytesUsed, MxhrStoreSize, MxhrMessagesPublished,
# MxhrPartsDelivered, MxhrSubscribers change by what was done: two
# subscribers, three messages (and one refused), two disconnects, a
# DELETE. Runs before the other channel tests, so that nothing expires
# meanwhile (t/93's MxhrChannelHistoryTime 1s).
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use MxhrTest qw(server_port);
use MxhrChannel;

plan tests => 19;

my $port = server_port();
my @keys = qw(MxhrChannels MxhrMessagesKept MxhrStoreBytesUsed MxhrStoreSize
              MxhrMessagesPublished MxhrPartsDelivered MxhrSubscribers);
my $b0 = status_auto($port);
is join(',', grep { ($b0->{$_} // '') =~ /^\d+$/ } @keys), join(',', @keys),
   'every key is there, a number';
$b0->{$_} //= 0 for @keys;
is $b0->{MxhrStoreSize}, 4 * 1024 * 1024, 'MxhrStoreSize is the configured 4m';

# Waits until every key of %want has its value; returns the last status.
sub status_is {
    my %want = @_;
    my $st;
    wait_until(3, sub {
        $st = status_auto($port);
        return !grep { ($st->{$_} // -1) != $want{$_} } keys %want;
    });
    return $st;
}

my $ch = uniq_name('status');
my $pub = "/ch/pub?id=$ch";
my @s = (ch_subscribe($port, "/ch/sub?id=$ch"),
         ch_subscribe($port, "/ch/sub?id=$ch", proto => '1.0'));
ok wait_subscribers($port, $pub, 2), 'two subscribers to a new channel';
my $st = status_is(MxhrSubscribers => $b0->{MxhrSubscribers} + 2,
                   MxhrChannels => $b0->{MxhrChannels} + 1);
is $st->{MxhrSubscribers}, $b0->{MxhrSubscribers} + 2, 'MxhrSubscribers +2';
is $st->{MxhrChannels}, $b0->{MxhrChannels} + 1, 'MxhrChannels +1 (a subscriber makes the channel)';
is $st->{MxhrMessagesPublished}, $b0->{MxhrMessagesPublished}, 'MxhrMessagesPublished unchanged';

is ch_request($port, 'POST', "/ch/pub-1k?id=$ch", body => 'r' x 2000)->{status}, 413,
   'a refused message (413)';
for my $i (1 .. 3) {
    ch_request($port, 'POST', $pub, body => chr(64 + $i) x 1000);
}
ok ch_pump_all(\@s, 3, sub { !grep { $_->messages < 3 } @s }), 'three messages, both got them';
$st = status_is(MxhrMessagesPublished => $b0->{MxhrMessagesPublished} + 3,
                MxhrMessagesKept => $b0->{MxhrMessagesKept} + 3,
                MxhrPartsDelivered => $b0->{MxhrPartsDelivered} + 6);
is $st->{MxhrMessagesPublished}, $b0->{MxhrMessagesPublished} + 3,
   'MxhrMessagesPublished +3 (the refused one not counted)';
is $st->{MxhrMessagesKept}, $b0->{MxhrMessagesKept} + 3, 'MxhrMessagesKept +3';
is $st->{MxhrPartsDelivered}, $b0->{MxhrPartsDelivered} + 6, 'MxhrPartsDelivered +6 (3 x 2)';
my $used = ($st->{MxhrStoreBytesUsed} // 0) - $b0->{MxhrStoreBytesUsed};
ok $used >= 3000 && $used < 1024 * 1024, "MxhrStoreBytesUsed grew by the bodies and a little ($used)";
is $st->{MxhrChannels}, $b0->{MxhrChannels} + 1, 'still one channel more';

$_->close for @s;
$st = status_is(MxhrSubscribers => $b0->{MxhrSubscribers});
is $st->{MxhrSubscribers}, $b0->{MxhrSubscribers}, 'MxhrSubscribers back after the disconnects';

my $after = $st->{MxhrStoreBytesUsed} // 0;
is ch_request($port, 'DELETE', $pub)->{status}, 200, 'DELETE';
$st = status_is(MxhrChannels => $b0->{MxhrChannels}, MxhrMessagesKept => $b0->{MxhrMessagesKept});
is $st->{MxhrChannels}, $b0->{MxhrChannels}, 'MxhrChannels back';
is $st->{MxhrMessagesKept}, $b0->{MxhrMessagesKept}, 'MxhrMessagesKept back';
cmp_ok $after - ($st->{MxhrStoreBytesUsed} // 0), '>=', 3000, 'MxhrStoreBytesUsed gave the bodies back';
is $st->{MxhrMessagesPublished}, $b0->{MxhrMessagesPublished} + 3, 'MxhrMessagesPublished is a total: stays';
