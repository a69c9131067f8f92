#!/usr/bin/env bash
# The event-MPM suspension tests (t/event/*.pl): each starts private
# httpd instances of its own. As root they run as "nobody" in a private
# copy of the built tree, like scripts/apache-test.sh.
# Usage: scripts/event-test.sh [t/event/10_many.pl ...]
# MXHR_KEEP_LOGS=DIR (writable by nobody when root) keeps the error log
# of each server whose check at stop failed (t/lib/MxhrServer.pm).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
[ -f "$src/.libs/mod_mxhr.so" ] || { echo "build first (scripts/build.sh)" >&2; exit 2; }
runas=()
work="$src"
if [ "$(id -u)" = 0 ]; then
    work=$(mktemp -d /tmp/mxhr-event.XXXXXX)
    cp -a "$src/.libs" "$src/t" "$work/"
    chown -R nobody:nogroup "$work"
    chmod 755 "$work"
    runas=(runuser -u nobody --)
fi
cd "$work"
[ $# -gt 0 ] || set -- t/event/*.pl
# 500 and more sockets per test client and server.
ulimit -n 4096 2>/dev/null || true
"${runas[@]}" env MXHR_SRC="$work" HOME="$work" prove -I t/lib "$@" && rc=0 || rc=$?
[ "$work" = "$src" ] || rm -rf "$work"
exit $rc
