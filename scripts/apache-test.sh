#!/usr/bin/env bash
# Runs the Apache::Test suite (t/*.t) under one MPM: prefork, worker or
# event. Apache::Test refuses to run as root, so as root the suite runs
# as "nobody" in a private copy of the built tree that it owns.
# Usage: scripts/apache-test.sh MPM [t/TEST options, e.g. t/10_framing.t]
set -euo pipefail
mpm=${1:?usage: apache-test.sh prefork|worker|event [tests]}
shift
case "$mpm" in prefork|worker|event) ;; *)
    echo "apache-test.sh: unknown MPM '$mpm'" >&2; exit 2 ;;
esac
src=$(cd "$(dirname "$0")/.." && pwd)
[ -f "$src/.libs/mod_mxhr.so" ] || { echo "build first (scripts/build.sh)" >&2; exit 2; }

runas=()
if [ "$(id -u)" = 0 ]; then
    work=$(mktemp -d /tmp/mxhr-test.XXXXXX)
    # Only what the suite reads: the built module, the tests, the pages.
    cp -a "$src/.libs" "$src/t" "$src/htdocs" "$src/conf" "$work/"
    mkdir -p "$work/scripts" && cp -a "$src/scripts/." "$work/scripts/"
    chown -R nobody:nogroup "$work"
    chmod 755 "$work"
    runas=(runuser -u nobody --)
else
    work="$src"
fi

cd "$work"
rm -rf t/logs
mkdir -p t/logs
# A minimal httpd.conf of our own, by MxhrConf (scripts/httpd-conf.pl):
# Debian has no httpd.conf, and Apache::Test only sees the modules
# loaded here.
perl scripts/httpd-conf.pl --part modules --mpm "$mpm" --types \
    --load authz_host,mime,dir,alias,env,setenvif,filter,deflate,status,http2 \
    --so "$work/.libs/mod_mxhr.so" > "t/conf/base-$mpm.conf"
# Small, known worker pools (t/70_disconnect.t fills them): 12 processes
# under prefork, 20 threads under worker and event (Apache::Test's own
# sizing misses the event MPM). t/conf/extra.conf.in includes it.
case "$mpm" in
prefork) pool=children=4,min_spare=1,max_spare=12,limit=12 ;;
*)       pool=children=2,threads=10,limit=2,min_spare=10,max_spare=20,workers=20 ;;
esac
perl scripts/httpd-conf.pl --part pool --mpm "$mpm" --pool "$pool" > t/conf/pool.conf
chmod -R a+rX t
[ ${#runas[@]} -eq 0 ] || chown -R nobody:nogroup "$work"

export MXHR_MPM=$mpm
export HOME="$work"       # Apache::Test may save its settings there
"${runas[@]}" env HOME="$work" MXHR_MPM="$mpm" MXHR_SRC="$work" \
    perl t/TEST -httpd /usr/sbin/apache2 -httpd_conf "$work/t/conf/base-$mpm.conf" \
    -port select -maxclients 12 -minclients 12 "$@" && rc=0 || rc=$?
# Once the server has stopped (t/TEST stops it; this in case it did not),
# its error log may hold no error line and no child that died of a
# signal but those the tests provoke on purpose (t/conf/expected-errors;
# t/lib/MxhrLogCheck.pm).
"${runas[@]}" perl t/TEST -stop >/dev/null 2>&1 || true
if [ -f t/logs/error_log ]; then
    perl -I t/lib -MMxhrLogCheck -e 'exit MxhrLogCheck::main(@ARGV)' \
        t/logs/error_log t/conf/expected-errors || rc=1
fi
# Keep the logs and screenshots of the run beside the source tree.
if [ "$work" != "$src" ]; then
    mkdir -p "$src/t/logs/$mpm"
    cp -a t/logs/. "$src/t/logs/$mpm/" 2>/dev/null || true
    cp t/conf/httpd.conf "$src/t/logs/$mpm/httpd.conf" 2>/dev/null || true
    rm -rf "$work"
fi
exit $rc
