# Redis mode: a child whose lock for its Redis connections cannot be
# made (apr_thread_mutex_create fails) says so (MXHR086) and answers
# 503, instead of locking a NULL mutex and dying of SIGSEGV in its
# reader thread or at its first request. The failure is made with an
# LD_PRELOAD shim, built here, that fails apr_thread_mutex_create only
# when mod_mxhr.so calls it (prefork: only the Redis code does).
use strict;
use warnings FATAL => 'all';
use Test::More;
use File::Temp qw(tempdir);
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrServer;
use MxhrChannel;
use MxhrRedis;

my $dir = tempdir(CLEANUP => 1);
chmod 0755, $dir;
open my $fh, '>', "$dir/shim.c" or die $!;
print $fh <<'C';
#define _GNU_SOURCE
#include <dlfcn.h>
#include <string.h>

typedef int (*create_fn)(void **, unsigned, void *);

/* APR_ENOMEM for mod_mxhr.so's calls; the real one for the others. */
int apr_thread_mutex_create(void **m, unsigned flags, void *pool)
{
    static create_fn real;
    Dl_info info;

    if (dladdr(__builtin_return_address(0), &info) && info.dli_fname
        && strstr(info.dli_fname, "mod_mxhr.so")) {
        *m = 0;
        return 12;
    }
    if (!real) {
        real = (create_fn)dlsym(RTLD_NEXT, "apr_thread_mutex_create");
    }
    return real(m, flags, pool);
}
C
close $fh;
system('cc', '-shared', '-fPIC', '-o', "$dir/shim.so", "$dir/shim.c", '-ldl') == 0
    or BAIL_OUT('cannot build the shim');
chmod 0755, "$dir/shim.so";

my $redis = MxhrRedis->start;
my $srv = do {
    local $ENV{LD_PRELOAD} = "$dir/shim.so";
    MxhrServer->start(mpm => 'prefork', expect_errors => [qr/MXHR086/],
                         conf => MxhrRedis::pool('prefork')
                      . $redis->httpd_conf(heartbeat => '30s'));
};
my $ch = uniq_name('lock');
my @st;
for my $i (1 .. 5) {
    my $r = ch_request($srv->port, 'POST', "/pub?id=$ch", body => "m$i", type => 'text/plain');
    push @st, $r->{status};
}
is "@st", '503 503 503 503 503', 'each publish: 503';
ok wait_until(5, sub { $srv->error_log =~ /MXHR086/ }), 'MXHR086 says why'
    or diag $srv->error_log;
unlike $srv->error_log, qr/exit signal/, 'no child died of a signal';
$srv->stop;
unlike $srv->error_log, qr/exit signal/, 'none at the stop either';
done_testing;
