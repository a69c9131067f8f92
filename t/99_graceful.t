# A graceful restart with streams open: each stream ends with its closing
# delimiter within a second or so, and the server serves again.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time sleep);
use MxhrTest;

plan tests => 7;

my @s = map { stream_open('/long') } 1 .. 4;
my $ready = grep { $_->read_until(3, sub { $_[0]->parts_complete >= 1 }) } @s;
is $ready, 4, 'four streams open, interval 10s';

my $pid = httpd_pid();
my $t0 = time;
ok kill('USR1', $pid), "graceful restart (SIGUSR1 to $pid)";
my $closed = grep { $_->read_until(5) } @s;
my $took = time - $t0;
is $closed, 4, 'every stream ended';
cmp_ok $took, '<', 2, sprintf 'within a second or so (%.2fs)', $took;
my $good = grep { $_->body =~ /\r\n--long--\r\n\z/ } @s;
is $good, 4, 'each with its closing delimiter';
is scalar(grep { scalar(my @p = $_->parts) >= 1 } @s), 4,
   'each a complete multipart body';

my $s;
for (1 .. 50) {   # the new generation takes a moment to start
    $s = eval { stream_open('/stream') };
    last if $s && $s->status == 200;
    sleep 0.1;
}
ok $s && $s->read_all(5), 'the restarted server streams again';
