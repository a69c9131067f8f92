# A message's body is framed for the wire once per message, not once
# per subscriber (issue 15, defect 4): the SSE data lines of a body that
# is not UTF-8 (base64), and the base64 of a multipart message that
# holds its stream's fixed boundary, are made by the first stream of a
# child that sends it in a wake and shared by the others. mod_status's
# MxhrBodiesEncoded counts each one made.
use strict;
use warnings FATAL => 'all';
use Test::More;
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrServer;
use MxhrChannel;
use MxhrTest ();

my $N = 6;
# One child, so that every subscriber is in the child that sends.
my $srv = MxhrServer->start(pool => { children => 1, threads => 25 },
                            conf => <<'CONF');
<Location /sse>
    SetHandler mxhr-stream
    MxhrChannel %{mxhr_arg:id}
    MxhrFormat sse
    MxhrHeartbeat 0
</Location>
<Location /mp>
    SetHandler mxhr-stream
    MxhrChannel %{mxhr_arg:id}
    MxhrFormat mixed
    MxhrBoundary fixedb
    MxhrHeartbeat 0
</Location>
<Location /pub>
    SetHandler mxhr-publish
    MxhrChannel %{mxhr_arg:id}
</Location>
CONF
my $port = $srv->port;

sub encoded { $srv->status->{MxhrBodiesEncoded} // -1 }

for my $case (['sse', "\xff\xfe binary \x00 body"],
              ['mp', "text that holds --fixedb, its stream's boundary"]) {
    my ($loc, $body) = @$case;
    my $ch = uniq_name("enc$loc");
    my @subs = map { ch_subscribe($port, "/$loc?id=$ch") } 1 .. $N;
    ok MxhrChannel::wait_subscribers($port, "/pub?id=$ch", $N, 10),
       "$loc: $N subscribers";
    # A first message, once every stream has it, says that the engine
    # holds them all (a stream it was still taking over gets what came
    # meanwhile on its own).
    ch_request($port, 'POST', "/pub?id=$ch", body => 'warm-up', type => 'text/plain');
    ok ch_pump_all(\@subs, 10, sub {
           !grep { index($_->{raw} . $_->{body}, 'warm-up') < 0 } @subs
       }), "$loc: every subscriber got a first message";
    my $before = encoded();
    cmp_ok $before, '>=', 0, "$loc: mod_status shows MxhrBodiesEncoded";
    my $r = ch_request($port, 'POST', "/pub?id=$ch", body => $body,
                       type => 'application/octet-stream');
    is $r->{status}, 201, "$loc: published to $N subscribers";
    ok ch_pump_all(\@subs, 10, sub {
           !grep { index($_->{raw} . $_->{body}, 'base64') < 0 } @subs
       }), "$loc: every subscriber got the message, as base64";
    my $after;
    MxhrTest::wait_until(3, sub { ($after = encoded()) > $before });
    is $after - $before, 1,
       "$loc: its body was framed once for $N subscribers ("
       . ($after - $before) . ")";
    $_->close for @subs;
}
$srv->stop;
done_testing;
