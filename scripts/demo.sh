#!/usr/bin/env bash
# Builds mod_mxhr and runs a private httpd in the foreground on
# 127.0.0.1 (port $MXHR_PORT, default 8080) serving the demo page at /
# and a live stream at /mxhr-stream. Installs nothing system-wide
# (packages it needs excepted). Stop it with Ctrl-C.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
port=${MXHR_PORT:-8080}
mpm=${MXHR_MPM:-event}

bash "$src/scripts/deps.sh" build
bash "$src/scripts/build.sh"

run=$(mktemp -d /tmp/mxhr-demo.XXXXXX)
trap 'rm -rf "$run"' EXIT
# httpd's children may run as another user: give them a readable copy.
cp -a "$src/htdocs" "$run/htdocs"
mkdir -p "$run/logs"
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
LoadModule mime_module $mods/mod_mime.so
LoadModule dir_module $mods/mod_dir.so
LoadModule status_module $mods/mod_status.so
LoadModule mxhr_module $src/.libs/mod_mxhr.so
TypesConfig /etc/mime.types
ErrorLog /dev/stderr
LogLevel warn mxhr:debug
LogFormat "%h %t \"%r\" %>s %B %Dus" demo
CustomLog /dev/stdout demo
DocumentRoot $run/htdocs
DirectoryIndex index.html
<Directory $run/htdocs>
    Require all granted
</Directory>

# The demo stream: the server's time every second.
<Location /mxhr-stream>
    SetHandler mxhr-stream
    MxhrInterval 1s
</Location>
# The same as JSON, for machines.
<Location /mxhr-stream/json>
    MxhrContentType application/json
    MxhrTimeFormat iso8601
</Location>
<Location /server-status>
    SetHandler server-status
</Location>
CONF

echo "mod_mxhr demo: http://127.0.0.1:$port/  (stream: /mxhr-stream," \
     "status: /server-status); Ctrl-C stops it"
/usr/sbin/apache2 -d "$run" -f "$run/httpd.conf" -DFOREGROUND
