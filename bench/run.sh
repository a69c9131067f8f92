#!/usr/bin/env bash
# Side-by-side benchmark on 127.0.0.1, one command, prints a table:
#   mxhr-async     mod_mxhr on the event MPM, suspending between sections
#   mxhr-blocking  the same httpd and threads with MxhrAsync off
#   nchan          nginx-light + libnginx-mod-nchan, multipart/mixed
#                  subscribers, a publisher posting epoch-ms once a second
# For each N (default 1000 10000) and each server: streams held, never
# served, sections received vs expected, gap and delay p50/p99/max,
# server RSS per stream, server CPU seconds per 1000 sections. Each
# configuration runs BENCH_REPEAT times (default 3); the table shows
# medians, and the ratios to nchan come from the same invocation.
#
#   bash bench/run.sh [N ...]
#   BENCH_HOLD=15 BENCH_REPEAT=3 BENCH_THREADS=25 bash bench/run.sh 1000
#   BENCH_KINDS="mxhr-async nchan" bash bench/run.sh 10000
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src"
HOLD=${BENCH_HOLD:-15}
REPEAT=${BENCH_REPEAT:-3}
THREADS=${BENCH_THREADS:-25}      # per child; 2 children
RATE=${BENCH_RATE:-2000}          # new streams per second
[ $# -gt 0 ] || set -- 1000 10000

bash scripts/deps.sh build bench
bash scripts/build.sh
work=$(mktemp -d /tmp/mxhr-bench.XXXXXX)
chmod 755 "$work"
pids_to_stop=()
cleanup() {
    for p in "${pids_to_stop[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    sleep 1
    rm -rf "$work"
}
trap cleanup EXIT
gcc -O2 -Wall -o "$work/loadclient" bench/loadclient.c
# Enough descriptors for 10,000 streams on both ends.
ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
procs=$(( $(ulimit -n) > 25000 ? 1 : 8 ))

mods=/usr/lib/apache2/modules
user=""
[ "$(id -u)" = 0 ] && user="User www-data
Group www-data"

start_httpd() {     # dir port async(on|off)
    local d=$1 port=$2 async=$3
    mkdir -p "$d"
    cat > "$d/httpd.conf" <<CONF
ServerRoot $d
ServerName localhost
DefaultRuntimeDir $d
PidFile $d/httpd.pid
Mutex file:$d default
$user
Listen 127.0.0.1:$port
ListenBacklog 8192
LoadModule mpm_event_module $mods/mod_mpm_event.so
LoadModule authz_core_module $mods/mod_authz_core.so
LoadModule mxhr_module $src/.libs/mod_mxhr.so
ErrorLog $d/error_log
LogLevel warn
DocumentRoot $d
Timeout 30
# $((2 * THREADS)) worker threads in all, in 2 children that never change.
ServerLimit 2
StartServers 2
ThreadsPerChild $THREADS
MinSpareThreads $((2 * THREADS))
MaxSpareThreads $((2 * THREADS))
MaxRequestWorkers $((2 * THREADS))
MaxConnectionsPerChild 0
${BENCH_HTTPD_EXTRA:-}
# Streams per child / ThreadsPerChild, with room to spare (see README).
AsyncRequestWorkerFactor 400
MxhrAsync $async
<Location /s>
    SetHandler mxhr-stream
    MxhrInterval 1s
    MxhrTimeFormat epoch-ms
</Location>
CONF
    /usr/sbin/apache2 -d "$d" -f "$d/httpd.conf" -k start || return 1
    # httpd binds before it detaches and writes its PID file.
    wait_port "$port" "$d/httpd.pid"
    pids_to_stop+=("$(cat "$d/httpd.pid")")
}

start_nchan() {     # dir port
    local d=$1 port=$2
    mkdir -p "$d"
    cat > "$d/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
worker_processes 2;
worker_rlimit_nofile 100000;
pid $d/nginx.pid;
error_log $d/error.log warn;
daemon on;
$( [ "$(id -u)" = 0 ] && echo "user www-data;" )
events { worker_connections 30000; }
http {
    access_log off;
    client_body_temp_path $d/body;
    proxy_temp_path $d/proxy;
    fastcgi_temp_path $d/fastcgi;
    uwsgi_temp_path $d/uwsgi;
    scgi_temp_path $d/scgi;
    server {
        listen 127.0.0.1:$port backlog=8192;
        location = /pub {
            nchan_publisher;
            nchan_channel_id bench;
            nchan_message_buffer_length 1;
        }
        location = /sub {
            nchan_subscriber;
            nchan_channel_id bench;
            nchan_subscriber_first_message newest;
        }
    }
}
CONF
    /usr/sbin/nginx -p "$d" -c "$d/nginx.conf" || return 1
    wait_port "$port" "$d/nginx.pid"
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

publisher() {   # port: posts epoch-ms at each whole second
    local port=$1
    while :; do
        now=$(date +%s%N)
        sleep "0.$(printf '%09d' $(( 1000000000 - now % 1000000000 )))"
        date +%s%3N | curl -s -o /dev/null -X POST --data-binary @- \
            "http://127.0.0.1:$port/pub" || true
    done
}

results="$work/results.txt"
: > "$results"
hz=$(getconf CLK_TCK)
run_one() {     # kind N repeat
    local kind=$1 n=$2 rep=$3 port d pid pubpid="" out path args try
    d="$work/$kind-$n-$rep"
    # Ports below the ephemeral range, where the load client's own
    # sockets (and their TIME_WAITs) live; another one if taken.
    for try in 1 2 3 4 5; do
        port=$(( 10000 + RANDOM % 20000 ))
        rm -rf "$d"
        case "$kind" in
        mxhr-async)    start_httpd "$d" "$port" on  && break ;;
        mxhr-blocking) start_httpd "$d" "$port" off && break ;;
        nchan)         start_nchan "$d" "$port"     && break ;;
        esac
    done
    case "$kind" in
    mxhr-*) pid=$(cat "$d/httpd.pid"); path=/s; args=() ;;
    nchan)  pid=$(cat "$d/nginx.pid"); path=/sub
            args=(-S -H "Accept: multipart/mixed")
            publisher "$port" & pubpid=$! ;;
    esac
    sleep 1
    local rss0 cpu0 rss1 cpu1 ramp
    rss0=$(rss_kb "$pid"); cpu0=$(cpu_ticks "$pid")
    ramp=$(( (n + RATE - 1) / RATE ))
    "$work/loadclient" -p "$port" -u "$path" -n "$n" -r "$RATE" -t "$HOLD" \
        -i 1000 -P "$procs" "${args[@]}" > "$d.out" &
    local lc=$!
    sleep $(( ramp + HOLD / 2 ))
    rss1=$(rss_kb "$pid")
    wait "$lc"
    cpu1=$(cpu_ticks "$pid")
    [ -z "$pubpid" ] || { kill "$pubpid" 2>/dev/null; wait "$pubpid" 2>/dev/null || true; }
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    out=$(cat "$d.out")
    echo "kind=$kind n=$n rep=$rep rss0=$rss0 rss1=$rss1 cpu=$(( cpu1 - cpu0 )) hz=$hz $out" \
        | tee -a "$results"
}

for n in "$@"; do
    for rep in $(seq 1 "$REPEAT"); do
        for kind in ${BENCH_KINDS:-mxhr-async mxhr-blocking nchan}; do
            run_one "$kind" "$n" "$rep"
        done
    done
done

echo
perl "$src/bench/report.pl" "$results"
