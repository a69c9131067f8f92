# Channels: what a subscriber gets is exactly what was published, read
# both by MIME::Parser and strictly by the contract (header order,
# Content-Length, delimiter): all 256 byte values, empty, 64 KB (the
# default MxhrMessageMaxSize), bodies with the stream's own fixed
# boundary in them (sent base64), Content-Types; %{mxhr_arg:id}.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use MIME::Base64 qw(decode_base64);
use MxhrTest qw(server_port);
use MxhrChannel;

plan tests => 68;

my $port = server_port();
my $ch = uniq_name('bodies');
my $pub = "/ch/pub?id=$ch";

my $all256 = join '', map { chr } 0 .. 255;
my @msgs = (
    ['all 256 byte values', $all256, 'application/octet-stream', 'application/octet-stream'],
    ['empty', '', 'text/plain', 'text/plain'],
    ['64 KB', join('', map { chr(($_ * 7 + 13) % 256) } 0 .. 65535), undef,
     'application/octet-stream'],
    ['CRLF and a lookalike delimiter', "line\r\n--chbX\r\n--other\r\n\r\n", 'text/plain; charset=utf-8',
     'text/plain; charset=utf-8'],
    ['own boundary inside', "head\r\n--chb\r\nContent-Type: evil\r\n\r\n--chb--\r\ntail",
     'application/x-evil', 'application/x-evil'],
    ['own boundary at the start', "--chb", 'text/plain', 'text/plain'],
    ['own boundary, binary around it', "\x00\xff\r\n--chb\r\n" . $all256, 'image/x-test', 'image/x-test'],
);

# Two subscribers on the fixed boundary (HTTP/1.1 chunked and HTTP/1.0)
# and one on a random boundary.
my @subs = (ch_subscribe($port, "/ch/sub?id=$ch"),
            ch_subscribe($port, "/ch/sub?id=$ch", proto => '1.0'),
            ch_subscribe($port, "/ch/subr?id=$ch"));
is scalar(grep { $_->status == 200 } @subs), 3, 'three subscribers';
is $subs[0]->boundary, 'chb', 'fixed boundary chb';
ok length($subs[2]->boundary // '') >= 24, 'and a random one (' . ($subs[2]->boundary // 'none') . ')';
ok wait_subscribers($port, $pub, 3), 'the channel counts 3 subscribers';

my @ids;
for my $m (@msgs) {
    my ($what, $body, $type) = @$m;
    my $r = ch_request($port, 'POST', $pub, body => $body, type => $type);
    is $r->{status}, 201, "$what: published (201)";
    push @ids, ($r->{json} || {})->{id};
}
ok ch_pump_all(\@subs, 5, sub { !grep { $_->messages < @msgs } @subs }),
   'every subscriber gets every message';

for my $k (0 .. $#subs) {
    my $s = $subs[$k];
    my $name = ('HTTP/1.1 chb', 'HTTP/1.0 chb', 'random boundary')[$k];
    my @p = $s->messages;
    my @mime = grep { !defined $_->{heartbeat} } $s->mime;
    is scalar(@mime), scalar(@msgs), "$name: MIME::Parser finds every part";
    my ($exact, $mexact, $order, $types) = (0, 0, 0, 0);
    my @bad;
    for my $i (0 .. $#msgs) {
        my ($what, $body, undef, $want_type) = @{ $msgs[$i] };
        $exact++ if defined $p[$i] && $p[$i]{body} eq $body;
        $mexact++ if defined $mime[$i] && $mime[$i]{body} eq $body;
        push @bad, $what if !defined $mime[$i] || $mime[$i]{body} ne $body;
        $types++ if defined $p[$i] && ($p[$i]{type} // '') eq $want_type;
        $order++ if defined $p[$i] && join(',', @{ $p[$i]{names} }[0 .. 4])
            eq 'Content-Type,Content-Length,Mxhr-Seq,Mxhr-Id,Mxhr-Channel';
    }
    is $mexact, scalar @msgs, "$name: MIME::Parser bodies byte-exact, base64 decoded"
        . (@bad ? " (differ: @bad)" : '');
    is $exact, scalar @msgs, "$name: Content-Length-framed bodies byte-exact";
    is $types, scalar @msgs, "$name: each part has its message's Content-Type";
    is $order, scalar @msgs,
       "$name: headers Content-Type, Content-Length, Mxhr-Seq, Mxhr-Id, Mxhr-Channel in that order";
    is_deeply [ map { $_->{id} } @p ], \@ids, "$name: Mxhr-Id is the publisher's id";
    my @all = $s->parts;
    is_deeply [ map { $_->{seq} } @all ], [ 1 .. @all ], "$name: Mxhr-Seq counts the parts";
    is scalar(grep { ($_->{channel} // '') eq $ch } @p), scalar @msgs, "$name: Mxhr-Channel";
    ok !defined $s->{wire_error}, "$name: wire format as the contract says"
        . (defined $s->{wire_error} ? " ($s->{wire_error})" : '');
}

# base64 exactly when the body holds "--chb", and only on that boundary.
my @fixed = $subs[0]->messages;
my @rand = $subs[2]->messages;
for my $i (0 .. $#msgs) {
    my ($what, $body) = @{ $msgs[$i] };
    my $p = $fixed[$i] or do { fail "$what: no part"; fail "$what: no part"; next };
    if (index($body, '--chb') >= 0) {
        is $p->{cte}, 'base64', "$what: Content-Transfer-Encoding: base64 on boundary chb";
        is $p->{h}{'content-length'}, length $p->{raw}, "$what: Content-Length counts the encoded bytes";
    }
    else {
        is $p->{cte}, '', "$what: sent as is on boundary chb";
        is $p->{raw}, $body, "$what: Content-Length is the body's";
    }
}
is scalar(grep { $_->{cte} eq '' && $_->{raw} eq $_->{body} } @rand), scalar @msgs,
   'random boundary: every body sent as is, none needs base64';
is $fixed[1]{h}{'content-length'}, '0', 'empty body: Content-Length: 0';
is length($fixed[2]{raw}), 65536, '64 KB body in one part';

# The same bytes to every subscriber with the same boundary.
my ($body11, $body10) = map { $_->body } @subs[0, 1];
is $body11, $body10, 'HTTP/1.1 (dechunked) and HTTP/1.0 subscribers got identical bytes';
$_->close for @subs;

# One byte over 64 KB is over the default MxhrMessageMaxSize.
my $r = ch_request($port, 'POST', $pub, body => 'x' x 65537);
my $s;
is $r->{status}, 413, '64 KB + 1 byte: 413 (default MxhrMessageMaxSize 64k)';

# The response of a subscription is a stream like the clock's.
$s = ch_subscribe($port, "/ch/sub?id=$ch");
is $s->header('content-type'), 'multipart/x-mixed-replace; boundary="chb"',
   'a subscription: multipart/x-mixed-replace by default';
is $s->header('cache-control'), 'no-cache, no-store', 'Cache-Control: no-cache, no-store';
ok $s->chunked && !defined $s->header('content-length'), 'HTTP/1.1: chunked, no Content-Length';
$s->close;
$s = ch_subscribe($port, "/ch/sub?id=$ch", headers => { Accept => 'multipart/mixed' });
is $s->header('content-type'), 'multipart/mixed; boundary="chb"', 'Accept: multipart/mixed picks it';
$s->close;
$r = ch_request($port, 'HEAD', "/ch/sub?id=$ch");
is $r->{status} . ' ' . ($r->{headers}{'content-type'} // '') . ' [' . $r->{body} . ']',
   '200 multipart/x-mixed-replace; boundary="chb" []', 'HEAD: the headers, no body';

# %{mxhr_arg:id}: the argument among others, URL-decoded.
my $argch = uniq_name('arg');
(my $enc = $argch) =~ s/-/%2D/g;
$s = ch_subscribe($port, "/ch/sub?x=1&id=$argch&y=2");
ok wait_subscribers($port, "/ch/pub?id=$argch", 1), 'subscribed by ?x=1&id=NAME&y=2';
$r = ch_request($port, 'POST', "/ch/pub?a=b&id=$enc", body => 'decoded');
is $r->{status}, 201, 'published to the URL-encoded name';
is $r->{json} && $r->{json}{channel}, $argch, 'JSON channel is the decoded name';
ok $s->wait_messages(1, 3), 'the subscriber of the decoded name gets it';
is +($s->messages)[0]{channel}, $argch, 'Mxhr-Channel is the decoded name';
$s->close;
