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
mods=/usr/lib/apache2/modules
user=""
[ "$(id -u)" = 0 ] && user="User www-data
Group www-data"

cat > "$run/httpd.conf" <<CONF
ServerRoot $run
ServerName localhost
DefaultRuntimeDir $run
PidFile $run/httpd.pid
Mutex file:$run default
$user
Listen 127.0.0.1:$port
LoadModule mpm_${mpm}_module $mods/mod_mpm_${mpm}.so
LoadModule authz_core_module $mods/mod_authz_core.so
LoadModule authz_host_module $mods/mod_authz_host.so
LoadModule mime_module $mods/mod_mime.so
LoadModule dir_module $mods/mod_dir.so
LoadModule status_module $mods/mod_status.so
LoadModule mxhr_module $src/.libs/mod_mxhr.so
TypesConfig /etc/mime.types
AddType text/javascript .mjs
ErrorLog ${MXHR_ERROR_LOG:-$run/logs/error_log}
LogLevel warn mxhr:debug
LogFormat "%h %t \"%r\" %>s %B %Dus" demo
CustomLog ${MXHR_ACCESS_LOG:-$run/logs/access_log} demo
DocumentRoot $run/htdocs
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
