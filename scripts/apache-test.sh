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
# A minimal httpd.conf of our own: Debian has no httpd.conf, and
# Apache::Test only sees the modules loaded here.
mods=/usr/lib/apache2/modules
cat > t/conf/base-$mpm.conf <<CONF
LoadModule mpm_${mpm}_module $mods/mod_mpm_${mpm}.so
LoadModule authz_core_module $mods/mod_authz_core.so
LoadModule authz_host_module $mods/mod_authz_host.so
LoadModule mime_module $mods/mod_mime.so
LoadModule dir_module $mods/mod_dir.so
LoadModule alias_module $mods/mod_alias.so
LoadModule env_module $mods/mod_env.so
LoadModule setenvif_module $mods/mod_setenvif.so
LoadModule filter_module $mods/mod_filter.so
LoadModule deflate_module $mods/mod_deflate.so
LoadModule status_module $mods/mod_status.so
LoadModule http2_module $mods/mod_http2.so
LoadModule mxhr_module $work/.libs/mod_mxhr.so
TypesConfig /etc/mime.types
CONF
chmod -R a+rX t
[ ${#runas[@]} -eq 0 ] || chown -R nobody:nogroup "$work"

export MXHR_MPM=$mpm
export HOME="$work"       # Apache::Test may save its settings there
"${runas[@]}" env HOME="$work" MXHR_MPM="$mpm" MXHR_SRC="$work" \
    perl t/TEST -httpd /usr/sbin/apache2 -httpd_conf "$work/t/conf/base-$mpm.conf" \
    -port select -maxclients 12 -minclients 12 "$@" && rc=0 || rc=$?
# Keep the logs and screenshots of the run beside the source tree.
if [ "$work" != "$src" ]; then
    mkdir -p "$src/t/logs/$mpm"
    cp -a t/logs/. "$src/t/logs/$mpm/" 2>/dev/null || true
    cp t/conf/httpd.conf "$src/t/logs/$mpm/httpd.conf" 2>/dev/null || true
    "${runas[@]}" perl t/TEST -stop >/dev/null 2>&1 || true
    rm -rf "$work"
fi
exit $rc
