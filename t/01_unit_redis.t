# The C unit tests of the Redis parts that need no Redis: the scripts'
# SHA1s (redis_lua_test) and the MxhrRedis URL parser (redis_url_test).
# Each prints TAP; their lines are passed on, renumbered.
use strict;
use warnings FATAL => 'all';
use FindBin;
use Test::More;

for my $name (qw(redis_lua_test redis_url_test)) {
    my $bin = "$FindBin::Bin/unit/$name";
    ok -x $bin, "$name is built" or next;
    my @out = `$bin`;
    my $rc = $? >> 8;
    for (@out) {
        next unless /^(not )?ok \d+ - (.*)/;
        ok !$1, "$name: $2";
    }
    is $rc, 0, "$name exits 0";
    cmp_ok scalar(grep { /^ok / } @out), '>', 3, "$name ran its tests";
}
done_testing;
