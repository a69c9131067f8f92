# GET streams, HEAD sends the headers only, anything else is 405.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time);
use MxhrTest;

plan tests => 13;

my $t0 = time;
my $s = stream_open('/long', method => 'HEAD');
is $s->status, 200, 'HEAD gives 200';
like $s->header('content-type'), qr{^multipart/x-mixed-replace; boundary="long"},
     'HEAD carries the stream headers';
ok $s->read_all(3), 'HEAD ends';
is $s->body, '', 'HEAD has no body';
cmp_ok time - $t0, '<', 2, 'HEAD does not wait for a section (interval 10s)';

for my $m (qw(POST PUT DELETE)) {
    $s = stream_open('/stream', method => $m, body => 'x=1');
    is $s->status, 405, "$m gives 405";
    my %allow = map { $_ => 1 } split /\s*,\s*/, $s->header('allow') // '';
    ok $allow{GET} && $allow{HEAD} && !$allow{$m},
       "$m: Allow lists GET and HEAD, not $m (" . ($s->header('allow') // '') . ')';
}
$s = stream_open('/stream', method => 'OPTIONS');
is $s->status, 405, 'OPTIONS gives 405 too';
is $s->header('allow') =~ /\bGET\b/ ? 1 : 0, 1, 'with Allow';
