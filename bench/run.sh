#!/usr/bin/env bash
# Side-by-side benchmark on 127.0.0.1, one command, prints a table:
#   mxhr-async     mod_mxhr on the event MPM, its push engine
#   mxhr-blocking  the same httpd and threads with MxhrAsync off (only
#                  when asked for in BENCH_KINDS: it holds 50 streams)
#   nchan          nginx-light + libnginx-mod-nchan, multipart/mixed
#                  subscribers, a publisher posting epoch-ms once a second
# For each N (default 10000 20000 50000) and each server: streams held,
# never served, sections received vs expected, gap and delay
# p50/p99/max, server RSS per stream, server CPU seconds per 1000
# sections. Then the stress row: BENCH_STRESS_N streams (default 10000)
# of which BENCH_STUCK percent (default 5) are stuck readers (small
# receive buffer, never read): the other readers' gaps. Each
# configuration runs BENCH_REPEAT times (default 3); the table shows
# medians, and the ratios to nchan come from the same invocation. The
# load client spreads its connections over BENCH_ADDRS source addresses
# (127.0.0.1 to .4 by default: one address has too few ephemeral ports
# for 50,000 streams).
#
#   bash bench/run.sh [N ...]
#   BENCH_HOLD=15 BENCH_REPEAT=3 BENCH_THREADS=25 bash bench/run.sh 1000
#   BENCH_KINDS="mxhr-async nchan" BENCH_STRESS_N=0 bash bench/run.sh 10000
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src"
HOLD=${BENCH_HOLD:-15}
REPEAT=${BENCH_REPEAT:-3}
# Processes per server: httpd children and nginx workers alike, 4 so
# that 50,000 streams fit where a process may only have 20,000
# descriptors. 4 x 16 = 64 worker threads in all.
CHILDREN=${BENCH_CHILDREN:-4}
THREADS=${BENCH_THREADS:-16}      # per child
RATE=${BENCH_RATE:-4000}          # new streams per second
ADDRS=${BENCH_ADDRS:-4}           # source addresses 127.0.0.1..N
STRESS_N=${BENCH_STRESS_N:-10000} # 0: no stress row
STUCK=${BENCH_STUCK:-5}           # percent stuck readers in the stress row
[ $# -gt 0 ] || set -- 10000 20000 50000

bash scripts/deps.sh build bench
bash scripts/build.sh
. "$src/bench/lib.sh"
bench_workdir mxhr-bench
gcc -O2 -Wall -o "$work/loadclient" bench/loadclient.c bench/netutil.c
# Enough descriptors for 50,000 streams on both ends.
ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
procs=$(( $(ulimit -n) > 25000 ? 1 : 8 ))


start_httpd() {     # dir port async(on|off)
    local d=$1 port=$2 async=$3
    mkdir -p "$d"
    { httpd_conf_head "$d" "$port" event
      cat <<CONF
${BENCH_HTTPD_EXTRA:-}
MxhrAsync $async
<Location /s>
    SetHandler mxhr-stream
    MxhrInterval 1s
    MxhrTimeFormat epoch-ms
</Location>
CONF
    } > "$d/httpd.conf"
    httpd_start "$d" "$port"
}

start_nchan() {     # dir port
    local d=$1 port=$2
    mkdir -p "$d"
    nchan_conf "$d" "$port" "" "        location = /pub {
            nchan_publisher;
            nchan_channel_id bench;
            nchan_message_buffer_length 1;
        }
        location = /sub {
            nchan_subscriber;
            nchan_channel_id bench;
            nchan_subscriber_first_message newest;
        }" > "$d/nginx.conf"
    nchan_start "$d" "$port"
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
run_one() {     # kind N repeat [stuck-percent]
    local kind=$1 n=$2 rep=$3 stuck=${4:-0} port d pid pubpid="" out path args try
    local label=$kind
    [ "$stuck" = 0 ] || label="$kind+${stuck}%stuck"
    d="$work/$label-$n-$rep"
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
    local rss0 cpu0 rss1 cpu1 ramp cpu_s t_s t_e
    rss0=$(rss_kb "$pid"); cpu0=$(cpu_ticks "$pid")
    ramp=$(( (n + RATE - 1) / RATE ))
    "$work/loadclient" -p "$port" -u "$path" -n "$n" -r "$RATE" -t "$HOLD" \
        -i 1000 -P "$procs" -A "$ADDRS" -s "$stuck" "${args[@]}" > "$d.out" &
    local lc=$!
    # The steady state, every stream open: from a second after the ramp
    # to the end of the hold, the server sends (n - stuck) sections a
    # second; its CPU then is the CPU per section without the cost of
    # opening the streams.
    sleep $(( ramp + 1 ))
    cpu_s=$(cpu_ticks "$pid"); t_s=$(date +%s%N)
    sleep $(( HOLD / 2 - 1 ))
    rss1=$(rss_kb "$pid")
    sleep $(( HOLD - HOLD / 2 - 2 ))
    cpu1=$(cpu_ticks "$pid"); t_e=$(date +%s%N)
    wait "$lc"
    # The whole life of the streams: opening, holding and, once the
    # client has gone, closing them (nchan closes its side then; the
    # engine frees httpd's part of a stream when it takes it over).
    sleep 2
    local cpu_all
    cpu_all=$(cpu_ticks "$pid")
    [ -z "$pubpid" ] || { kill "$pubpid" 2>/dev/null; wait "$pubpid" 2>/dev/null || true; }
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    out=$(cat "$d.out")
    echo "kind=$label n=$n rep=$rep rss0=$rss0 rss1=$rss1 cpu=$(( cpu_all - cpu0 )) hz=$hz steady_cpu=$(( cpu1 - cpu_s )) steady_ms=$(( (t_e - t_s) / 1000000 )) $out" \
        | tee -a "$results"
}

for n in "$@"; do
    for rep in $(seq 1 "$REPEAT"); do
        for kind in ${BENCH_KINDS:-mxhr-async nchan}; do
            run_one "$kind" "$n" "$rep"
        done
    done
done
if [ "$STRESS_N" -gt 0 ]; then
    for rep in $(seq 1 "$REPEAT"); do
        for kind in ${BENCH_KINDS:-mxhr-async nchan}; do
            run_one "$kind" "$STRESS_N" "$rep" "$STUCK"
        done
    done
fi

echo
perl "$src/bench/report.pl" "$results"
