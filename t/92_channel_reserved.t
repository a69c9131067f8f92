# Input that could pass for something else is refused (400), and then
# nothing is stored:
# - a channel id with a NUL once URL-decoded (?id=a%00b would have been
#   channel "a"), anywhere in it, for publisher and subscriber;
# - a channel id that is one of the module's own event names (mxhr-...,
#   ...-base64, in any case): a stream of several channels names each
#   event by its channel, so a channel "mxhr-close" would end streams;
# - a publisher's X-EventSource-Event that is one of them
#   (mxhr-close, message-base64, <name>-base64, ...).
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use MxhrTest qw(server_port);
use MxhrChannel;

plan tests => 45;

my $port = server_port();
my $base = uniq_name('rsv');
my $r;

# ?id= values (URL-encoded) and the channel a NUL would have cut them to.
for my $c (["$base%00b", $base], ["$base%00", $base], ["%00$base", undef],
           ["$base,x%00", undef]) {
    my ($arg, $cut) = @$c;
    $r = ch_request($port, 'POST', "/ch/pub?id=$arg", body => 'x');
    is $r->{status}, 400, "publish to ?id=$arg: 400";
    like $r->{body}, qr/control character/, '... the body says why';
    $r = ch_request($port, 'GET', "/ch/sub?id=$arg");
    is $r->{status}, 400, "subscribe to ?id=$arg: 400";
    next unless defined $cut;
    $r = ch_request($port, 'GET', "/ch/pub?id=$cut");
    is $r->{status}, 404, "... and nothing was stored in channel $cut";
}

# Channel ids that are the module's own event names.
for my $id ('mxhr-close', 'mxhr-history-lost', 'MXHR-Close', "mxhr-$base",
            "$base-base64", 'message-base64', "$base-BASE64") {
    $r = ch_request($port, 'POST', "/ch/pub?id=$id", body => 'x');
    is $r->{status}, 400, "publish to channel $id: 400";
    like $r->{body}, qr/reserved/, '... the body says why';
    $r = ch_request($port, 'GET', "/ch/sub?id=$id");
    is $r->{status}, 400, "subscribe to channel $id: 400";
}

# Event names a publisher may not use; the channel keeps nothing.
my $ch = "$base-ev";
for my $ev ('mxhr-close', 'Mxhr-History-Lost', 'message-base64',
            'update-base64', 'x-Base64') {
    $r = ch_request($port, 'POST', "/ch/pub?id=$ch", body => 'limit',
                    headers => { 'X-EventSource-Event' => $ev });
    is $r->{status}, 400, "X-EventSource-Event: $ev: 400";
}
$r = ch_request($port, 'GET', "/ch/pub?id=$ch");
is $r->{status}, 404, '... and none of them was stored';

# Names near them are the publisher's to use.
for my $ev ('mxhr', 'base64', 'x-base64x', 'close') {
    $r = ch_request($port, 'POST', "/ch/pub?id=$ch", body => 'x',
                    headers => { 'X-EventSource-Event' => $ev });
    is $r->{status}, 202, "X-EventSource-Event: $ev is taken (202)";
}
