#!/usr/bin/env bash
# Prepares a private httpd in DIR serving the demo page and stream on
# 127.0.0.1:PORT, using the module built in this tree:
#   private-httpd.sh DIR PORT [MPM]
# Then: /usr/sbin/apache2 -d DIR -f DIR/httpd.conf (-DFOREGROUND, or
# -k start / stop by the PID in DIR/httpd.pid).
set -euo pipefail
run=${1:?usage: private-httpd.sh DIR PORT [MPM]}
port=${2:?usage: private-httpd.sh DIR PORT [MPM]}
mpm=${3:-event}
src=$(cd "$(dirname "$0")/.." && pwd)

mkdir -p "$run/logs"
# httpd's children may run as another user: give them a readable copy.
rm -rf "$run/htdocs"
cp -a "$src/htdocs" "$run/htdocs"
chmod -R a+rX "$run"
# The head (modules, logs, the run files) is MxhrConf's
# (scripts/httpd-conf.pl); the demo's own locations follow.
perl "$src/scripts/httpd-conf.pl" --dir "$run" --port "$port" --mpm "$mpm" \
    --load authz_host,mime,dir,status --so "$src/.libs/mod_mxhr.so" --types \
    --error-log "${MXHR_ERROR_LOG:-$run/logs/error_log}" \
    --log-level "warn mxhr:debug" \
    --access-log "${MXHR_ACCESS_LOG:-$run/logs/access_log}" \
    --log-format '%h %t \"%r\" %>s %B %Dus' \
    --docroot "$run/htdocs" --extra - > "$run/httpd.conf" <<CONF
AddType text/javascript .mjs
DirectoryIndex index.html
<Directory $run/htdocs>
    Require all granted
</Directory>

# The demo stream: the server's time every second.
<Location /mxhr-stream>
    SetHandler mxhr-stream
    MxhrInterval ${MXHR_INTERVAL:-1s}
</Location>
# The same as JSON, for machines.
<Location /mxhr-stream/json>
    MxhrContentType application/json
    MxhrTimeFormat iso8601
</Location>
# The chat demo (chat.html): the page publishes to /chat/pub/ROOM,
# from this machine only, and subscribes at /chat/sub/ROOM.
<LocationMatch "^/chat/pub/(?<room>[A-Za-z0-9_-]{1,64})\$">
    SetHandler mxhr-publish
    MxhrChannel "%{env:MATCH_ROOM}"
    MxhrMessageMaxSize 4k
    Require local
</LocationMatch>
<LocationMatch "^/chat/sub/(?<room>[A-Za-z0-9_-]{1,64})\$">
    SetHandler mxhr-stream
    MxhrChannel "%{env:MATCH_ROOM}"
    MxhrChannelReplay 20
    MxhrHeartbeat 15s
</LocationMatch>
<Location /server-status>
    SetHandler server-status
</Location>
CONF
