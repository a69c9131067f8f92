# Shared by bench/run.sh, bench/channels.sh and bench/redis.sh (sourced,
# not run): their working folder, writing and starting the private httpd
# and nginx, and reading their processes' memory and CPU from /proc.
#
# The caller sets: src (the source tree, whose .libs/mod_mxhr.so is
# loaded), CHILDREN and THREADS (event MPM: children x threads each;
# nginx: CHILDREN workers). bench_workdir makes the array pids_to_stop,
# to which each started server's PID is appended (stop only those).

# bench_workdir NAME: a private folder $work (/tmp/NAME.XXXXXX), and
# the PIDs to stop at the end, servers (pids_to_stop) and clients
# (bg_pids): stopped, and the folder removed, when the script exits.
bench_workdir() {
    work=$(mktemp -d "/tmp/$1.XXXXXX")
    chmod 755 "$work"
    pids_to_stop=()
    bg_pids=()
    trap bench_cleanup EXIT
}

bench_cleanup() {
    local p
    for p in "${bg_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids_to_stop[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    sleep 1
    rm -rf "$work"
}

# httpd_conf_head DIR PORT [event|prefork [PROCS [OPTION...]]]: the
# common part of an httpd.conf, to which the caller appends its own
# directives; written by MxhrConf (scripts/httpd-conf.pl, whose options
# the OPTIONs are: --so, --server-name, --redis ...). event: CHILDREN x
# THREADS worker threads that never change; prefork: PROCS processes
# that never change (none is stopped, none is added; MinSpareServers 1:
# no complaint while all but one are busy).
httpd_conf_head() {
    local d=$1 port=$2 mpm=${3:-event} procs=${4:-150} pool
    shift $(( $# < 4 ? $# : 4 ))
    case "$mpm" in
    event)   pool=children=$CHILDREN,threads=$THREADS,min_spare=$((CHILDREN * THREADS)),max_conns=0 ;;
    prefork) pool=children=$procs,min_spare=1,max_spare=$procs,limit=$procs,max_conns=0 ;;
    *) echo "bench: no pool for $mpm" >&2; return 1 ;;
    esac
    perl "$src/scripts/httpd-conf.pl" --dir "$d" --port "$port" --mpm "$mpm" \
        --pool "$pool" --backlog 8192 --so "$src/.libs/mod_mxhr.so" \
        --log-level warn --timeout 30 "$@"
}

# httpd_start DIR PORT: starts the httpd configured in DIR/httpd.conf.
# The channel benchmarks' locations: subscribers at /sub?id=, the
# publisher at /pub?id=, publishers' connections kept.
mxhr_channel_conf() {
    cat <<CONF
# Publishers keep their connections for the whole run, as nginx's below.
MaxKeepAliveRequests 0
KeepAliveTimeout 60
${BENCH_MXHR_EXTRA:-}
<Location /sub>
    SetHandler mxhr-stream
    MxhrChannel "%{mxhr_arg:id}"
    # multipart/mixed or text/event-stream as Accept prefers
    MxhrFormat auto
</Location>
<Location /pub>
    SetHandler mxhr-publish
    MxhrChannel "%{mxhr_arg:id}"
</Location>
CONF
}

httpd_start() {
    local d=$1 port=$2
    /usr/sbin/apache2 -d "$d" -f "$d/httpd.conf" -k start || return 1
    # httpd binds before it detaches and writes its PID file.
    wait_port "$port" "$d/httpd.pid" || return 1
    pids_to_stop+=("$(cat "$d/httpd.pid")")
}

# nchan_conf DIR PORT HTTP_EXTRA SERVER_BODY: an nginx.conf with nchan,
# CHILDREN workers, one server on 127.0.0.1:PORT; HTTP_EXTRA goes in the
# http block, SERVER_BODY (the locations) in the server block.
nchan_conf() {
    local d=$1 port=$2 http_extra=$3 body=$4
    cat <<CONF
load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
worker_processes $CHILDREN;
worker_rlimit_nofile 200000;
pid $d/nginx.pid;
error_log $d/error.log warn;
daemon on;
$( [ "$(id -u)" = 0 ] && echo "user www-data;" )
events { worker_connections 60000; }
http {
    access_log off;
    client_body_temp_path $d/body;
    proxy_temp_path $d/proxy;
    fastcgi_temp_path $d/fastcgi;
    uwsgi_temp_path $d/uwsgi;
    scgi_temp_path $d/scgi;
$http_extra
    server {
        listen 127.0.0.1:$port backlog=8192;
$body
    }
}
CONF
}

# nchan_start DIR PORT: starts the nginx configured in DIR/nginx.conf.
nchan_start() {
    local d=$1 port=$2
    /usr/sbin/nginx -p "$d" -c "$d/nginx.conf" || return 1
    wait_port "$port" "$d/nginx.pid" || return 1
    pids_to_stop+=("$(cat "$d/nginx.pid")")
}

wait_port() {    # port [pidfile]: the port answers and the PID file is written
    for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null \
           && { [ -z "${2:-}" ] || [ -s "$2" ]; }; then
            return 0
        fi
        sleep 0.1
    done
    echo "bench: nothing listening on $1" >&2
    return 1
}

# stop_server PID: TERM to a server we started, then wait for it to go.
stop_server() {
    local pid=$1
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
}

# The server's processes: the master/parent and its children.
server_pids() {
    local parent=$1
    echo "$parent"
    ps -o pid= --ppid "$parent"
}
rss_kb() {      # sum of VmRSS over the server's processes
    local t=0 p
    for p in $(server_pids "$1"); do
        t=$((t + $(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)))
    done
    echo "$t"
}
cpu_ticks() {   # utime + stime (+ those of reaped children) over the processes
    local t=0 p
    for p in $(server_pids "$1"); do
        t=$((t + $(awk '{print $14 + $15 + $16 + $17}' "/proc/$p/stat" 2>/dev/null || echo 0)))
    done
    echo "$t"
}
# cpu_ns PID: nanoseconds on CPU of every thread of the server's
# processes (/proc/P/task/T/schedstat), to the nanosecond where ticks
# would be 10 ms. Threads that ended are not counted: compare two
# readings only over a time in which the server's threads stay.
cpu_ns() {
    local p files=()
    for p in $(server_pids "$1"); do
        files+=(/proc/"$p"/task/*/schedstat)
    done
    cat "${files[@]}" 2>/dev/null | awk '{t += $1} END {printf "%.0f\n", t}'
}
