# Channels, the publisher's side: 202 without subscribers, 201 with;
# the JSON answer of POST, PUT, GET, HEAD and DELETE; PUT like POST;
# 405 with Allow; 403 from Require; 500 without MxhrChannel; chunked
# bodies and Expect: 100-continue; DELETE ends the streams.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time sleep);
use MxhrTest qw(server_port error_log_size error_log_since);
use MxhrChannel;

plan tests => 76;

my $port = server_port();
my $ch = uniq_name('pub');
my $pub = "/ch/pub?id=$ch";

# Never published to, never subscribed to.
my $r = ch_request($port, 'GET', $pub);
is $r->{status}, 404, 'GET of a channel that does not exist: 404';
$r = ch_request($port, 'DELETE', $pub);
is $r->{status}, 404, 'DELETE of a channel that does not exist: 404';

# No subscriber: 202, and the JSON of the contract.
$r = ch_request($port, 'POST', $pub, body => 'first', type => 'text/plain');
is $r->{status}, 202, 'POST without subscribers: 202';
like $r->{headers}{'content-type'} // '', qr{^application/json}, 'answer is application/json';
my $j = $r->{json};
ok $j, 'answer parses as JSON' or diag $r->{body};
$j ||= {};
is $j->{channel}, $ch, 'JSON channel';
ok defined $j->{id} && parse_id($j->{id}),
   'JSON id is <store>-<seq> (' . ($j->{id} // 'none') . ')';
is $j->{messages}, 1, 'JSON messages: 1 kept';
is $j->{requested}, -1, 'JSON requested: -1, no subscriber ever';
is $j->{subscribers}, 0, 'JSON subscribers: 0';
is $j->{last_message_id}, $j->{id}, 'JSON last_message_id is the new id';
my $id1 = $j->{id} // 'none';

# GET and HEAD: the same without id.
$r = ch_request($port, 'GET', $pub);
is $r->{status}, 200, 'GET of the channel: 200';
like $r->{headers}{'content-type'} // '', qr{^application/json}, 'GET: application/json';
$j = $r->{json} || {};
ok !exists $j->{id}, 'GET: no id field';
is_deeply [ @$j{qw(channel messages requested subscribers last_message_id)} ],
          [ $ch, 1, -1, 0, $id1 ], 'GET: channel, messages, requested, subscribers, last_message_id';
$r = ch_request($port, 'HEAD', $pub);
is $r->{status}, 200, 'HEAD of the channel: 200';
is $r->{body}, '', 'HEAD: no body';
like $r->{headers}{'content-type'} // '', qr{^application/json}, 'HEAD: application/json';
$r = ch_request($port, 'HEAD', '/ch/pub?id=' . uniq_name('none'));
is $r->{status}, 404, 'HEAD of a channel that does not exist: 404';

# PUT is POST.
$r = ch_request($port, 'PUT', $pub, body => 'second');
is $r->{status}, 202, 'PUT without subscribers: 202';
$j = $r->{json} || {};
is $j->{messages}, 2, 'PUT: 2 kept';
ok defined $j->{id} && id_cmp($id1, $j->{id}) < 0, 'PUT: a larger id';
my $id2 = $j->{id} // 'none';

# With one subscriber: 201, subscribers 1, requested >= 0.
my $sub = ch_subscribe($port, "/ch/sub?id=$ch");
is $sub->status, 200, 'a subscriber';
my $w = wait_subscribers($port, $pub, 1);
is $w && $w->{subscribers}, 1, 'GET counts 1 subscriber';
ok $w && ($w->{requested} // -1) >= 0 && $w->{requested} <= 5,
   'GET: requested is the seconds since it connected (' . ($w ? $w->{requested} : 'none') . ')';
$r = ch_request($port, 'POST', $pub, body => 'third');
is $r->{status}, 201, 'POST with a subscriber: 201';
$j = $r->{json} || {};
is $j->{subscribers}, 1, 'JSON subscribers: 1';
is $j->{messages}, 3, 'JSON messages: 3';
ok +($j->{requested} // -1) >= 0 && $j->{requested} <= 5,
   'JSON requested: ' . ($j->{requested} // 'none');
ok $sub->wait_messages(1, 3), 'the subscriber gets the message';
my @m = $sub->messages;
is $m[0]{body}, 'third', 'only the message published after it connected';
is $m[0]{id}, $j->{id}, 'with the id the publisher was given';
is $m[0]{type}, 'application/octet-stream', 'no Content-Type: application/octet-stream';

# Chunked request body, several chunks, binary.
my @chunks = ("chunk one\r\n", "\x00\x01\x02", '', "0\r\n\r\n", "last");
$r = ch_request($port, 'POST', $pub, chunks => \@chunks, type => 'application/x-chunks');
is $r->{status}, 201, 'chunked POST: 201';
ok $sub->wait_messages(2, 3), 'chunked message arrives';
@m = $sub->messages;
is $m[1]{body}, join('', @chunks), 'chunked body stored byte for byte';
is $m[1]{type}, 'application/x-chunks', 'with its Content-Type';
is $m[1]{h}{'content-length'}, length join('', @chunks), 'and its Content-Length';

# Expect: 100-continue: the body goes after "100 Continue".
$r = ch_request($port, 'POST', $pub, body => 'after continue', expect => 1,
                type => 'text/plain; charset=utf-8');
ok $r->{continue}, 'Expect: 100-continue gets 100 Continue';
is $r->{status}, 201, 'then 201';
ok $sub->wait_messages(3, 3), 'and the message arrives';
@m = $sub->messages;
is $m[2]{body}, 'after continue', 'the body sent after 100 Continue';
is $m[2]{type}, 'text/plain; charset=utf-8', 'its Content-Type kept';
# Chunked and Expect together.
$r = ch_request($port, 'PUT', $pub, chunks => ['a', 'b', 'c'], expect => 1);
ok $r->{continue} && $r->{status} == 201, 'chunked PUT with Expect: 100 Continue, then 201';
ok $sub->wait_messages(4, 3), 'arrives';
is +($sub->messages)[3]{body}, 'abc', 'chunked PUT body';
# A chunked body of no chunks at all: an empty message.
$r = ch_request($port, 'POST', $pub, chunks => [], type => 'text/plain');
is $r->{status}, 201, 'chunked POST of 0 bytes: 201';
ok $sub->wait_messages(5, 3), 'arrives';
is +($sub->messages)[4]{body}, '', 'an empty message';
ok ids_increasing(map { $_->{id} } $sub->messages), 'ids increase';
is_deeply [ map { $_->{seq} } $sub->parts ], [ 1 .. scalar(my @all = $sub->parts) ],
          'Mxhr-Seq counts the parts';
ok !defined $sub->{wire_error}, 'wire format as the contract says'
    or diag $sub->{wire_error};

# Other methods: 405 with Allow.
for my $m (qw(OPTIONS PATCH)) {
    $r = ch_request($port, $m, $pub, body => 'x');
    is $r->{status}, 405, "$m: 405";
    my %allow = map { uc($_) => 1 } split /\s*,\s*/, $r->{headers}{allow} // '';
    is join(',', grep { $allow{$_} } qw(GET HEAD POST PUT DELETE)), 'GET,HEAD,POST,PUT,DELETE',
       "$m: Allow lists GET, HEAD, POST, PUT, DELETE (" . ($r->{headers}{allow} // 'none') . ')';
}
# A subscriber's location refuses a publish as before.
$r = ch_request($port, 'POST', "/ch/sub?id=$ch", body => 'x');
is $r->{status}, 405, 'POST to a subscriber location: 405';

# 403 from Require: nothing stored.
my $denied = uniq_name('denied');
$r = ch_request($port, 'POST', "/ch/pub-denied?id=$denied", body => 'no');
is $r->{status}, 403, 'Require ip 192.0.2.1: 403';
is ch_request($port, 'GET', "/ch/pub?id=$denied")->{status}, 404,
   'and nothing was stored';

# 500 without MxhrChannel, the error log names the directive.
my $off = error_log_size();
$r = ch_request($port, 'POST', '/ch/pub-nochan', body => 'x');
is $r->{status}, 500, 'mxhr-publish without MxhrChannel: 500';
like wait_until(2, sub { error_log_since($off) =~ /MxhrChannel/ ? error_log_since($off) : '' }),
     qr/MxhrChannel/, 'the error log names MxhrChannel';

# DELETE: the streams end with their closing delimiter, then 404.
my $sub2 = ch_subscribe($port, "/ch/sub?id=$ch", proto => '1.0');
ok wait_subscribers($port, $pub, 2), 'a second subscriber (HTTP/1.0)';
$r = ch_request($port, 'POST', $pub, body => 'before delete');
my $last = ($r->{json} || {})->{id} // 'none';
ok $sub2->wait_messages(1, 3) && $sub->wait_messages(6, 3), 'both get a message';
my $t0 = time;
$r = ch_request($port, 'DELETE', $pub);
is $r->{status}, 200, 'DELETE: 200';
$j = $r->{json} || {};
is $j->{channel}, $ch, 'DELETE: JSON channel';
ch_pump_all([$sub, $sub2], 3, sub { $sub->closed && $sub2->closed });
ok $sub->closed, sprintf 'HTTP/1.1 stream ends with --chb-- (%.2fs)', time - $t0;
ok $sub2->closed, 'HTTP/1.0 stream ends with --chb--';
ok $sub->pump(2) && $sub->{chunked_end}, 'HTTP/1.1: the chunked body is ended';
ok $sub2->pump(2), 'HTTP/1.0: the connection is closed';
is scalar(my @x = $sub->mime), scalar(my @y = $sub->parts),
   'MIME::Parser: the ended stream is a complete multipart body';
is scalar(my @z = grep { !defined $_->{heartbeat} } @x), 6, 'with the 6 messages';
is ch_request($port, 'GET', $pub)->{status}, 404, 'GET after DELETE: 404';
is ch_request($port, 'DELETE', $pub)->{status}, 404, 'DELETE again: 404';

# History is forgotten: a new message starts a new history (1 kept).
$r = ch_request($port, 'POST', $pub, body => 'reborn');
is $r->{status}, 202, 'POST after DELETE: 202 (no subscriber left)';
is $r->{json} && $r->{json}{messages}, 1, 'the old messages are forgotten';
ok $r->{json} && parse_id($r->{json}{id}) && parse_id($last)
   && id_cmp($r->{json}{id}, $last) > 0,
   'ids are not reused after DELETE';
