# A stream that cannot produce its first section answers 500, with a
# well-formed response, instead of a 200 with broken framing (on the
# engine HTTP/1.1 streams write their own chunk framing).
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use MxhrTest;

plan tests => 6;

for my $proto ('1.1', '1.0') {
    my $off = error_log_size();
    my $s = stream_open('/too-long', proto => $proto);
    is $s->status, 500, "HTTP/$proto: 500";
    ok $s->read_all(3), "HTTP/$proto: the response ends";
    my $err = '';
    for (1 .. 20) {
        $err = error_log_since($off);
        last if $err =~ /MXHR022/;
        select undef, undef, undef, 0.1;
    }
    like $err, qr/MXHR022: source 'clock' could not produce section 1/,
         "HTTP/$proto: the error log says why";
}
