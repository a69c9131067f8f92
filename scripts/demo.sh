#!/usr/bin/env bash
# Builds mod_mxhr and runs a private httpd in the foreground on
# 127.0.0.1 (port $MXHR_PORT, default 8080) serving the demo page at /
# and a live stream at /mxhr-stream. Installs nothing system-wide
# (packages it needs excepted). Stop it with Ctrl-C.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
port=${MXHR_PORT:-8080}

bash "$src/scripts/deps.sh" build
bash "$src/scripts/build.sh"

run=$(mktemp -d /tmp/mxhr-demo.XXXXXX)
MXHR_ERROR_LOG=/dev/stderr MXHR_ACCESS_LOG=/dev/stdout \
    bash "$src/scripts/private-httpd.sh" "$run" "$port" "${MXHR_MPM:-event}"

echo "mod_mxhr demo: http://127.0.0.1:$port/  (stream: /mxhr-stream," \
     "JSON: /mxhr-stream/json, status: /server-status); Ctrl-C stops it"
/usr/sbin/apache2 -d "$run" -f "$run/httpd.conf" -DFOREGROUND &
httpd=$!
# Stop exactly the httpd we started, however this script is stopped,
# and remove its folder (each step may fail: httpd may be gone already).
trap 'kill -TERM $httpd 2>/dev/null || true; wait $httpd 2>/dev/null || true; rm -rf "$run"' EXIT
trap 'exit 130' INT TERM
# httpd stopped by its PID file (a TERM) ends the demo normally.
rc=0
wait $httpd || rc=$?
echo "mod_mxhr demo: httpd exited ($rc)"
exit $rc
