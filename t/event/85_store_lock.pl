# The channel store's lock must be shared by the children and robust
# (a child that dies holding it is then reported, EOWNERDEAD, and its
# step undone). Where the system refuses either attribute, httpd does
# not start and says why (MXHR063), as for any store it cannot make,
# rather than run with a lock that would hang every child after one
# crash. The refusal is made with an
# LD_PRELOAD shim, built here, that fails pthread_mutexattr_setrobust()
# only when mod_mxhr.so calls it.
use strict;
use warnings FATAL => 'all';
use Test::More;
use File::Temp qw(tempdir);
use FindBin;
use lib "$FindBin::Bin/../lib";
use MxhrServer;
use MxhrChannel;

my $dir = tempdir(CLEANUP => 1);
chmod 0755, $dir;
open my $fh, '>', "$dir/shim.c" or die $!;
print $fh <<'C';
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <string.h>
#include <pthread.h>

typedef int (*robust_fn)(pthread_mutexattr_t *, int);

/* ENOTSUP for mod_mxhr.so's calls; the real one for the others. */
int pthread_mutexattr_setrobust(pthread_mutexattr_t *a, int robust)
{
    static robust_fn real;
    Dl_info info;

    if (dladdr(__builtin_return_address(0), &info) && info.dli_fname
        && strstr(info.dli_fname, "mod_mxhr.so")) {
        return ENOTSUP;
    }
    if (!real) {
        real = (robust_fn)dlsym(RTLD_NEXT, "pthread_mutexattr_setrobust");
    }
    return real(a, robust);
}
C
close $fh;
system('cc', '-shared', '-fPIC', '-o', "$dir/shim.so", "$dir/shim.c", '-ldl') == 0
    or BAIL_OUT('cannot build the shim');
chmod 0755, "$dir/shim.so";

my $conf = <<'CONF';
<Location /pub>
    SetHandler mxhr-publish
    MxhrChannel %{mxhr_arg:id}
</Location>
CONF
my $srv = eval {
    local $ENV{LD_PRELOAD} = "$dir/shim.so";
    MxhrServer->start(mpm => 'event', pool => {}, conf => $conf,
                      expect_errors => [qr/MXHR063/]);
};
my $err = $@;
ok !$srv, 'httpd does not start without a robust lock';
like $err, qr/MXHR063: cannot make the channel store's lock shared and robust/,
     'MXHR063 says why';
$srv->stop if $srv;
done_testing;
