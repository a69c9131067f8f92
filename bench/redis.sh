#!/usr/bin/env bash
# Fan-out through Redis: two servers on this machine share one channel
# through one private redis-server, mod_mxhr beside nchan, on 127.0.0.x;
# one command, prints a table of medians and ratios.
#
# Kinds (BENCH_KINDS, default "mxhr nchan mxhr-single nchan-single"):
#   mxhr          two httpd (mod_mxhr built in this tree, event MPM,
#                 BENCH_PAIR_CHILDREN x BENCH_THREADS = 2 x 16 each), both
#                 with "MxhrRedis redis://127.0.0.1:P" and the same
#                 "ServerName bench.test:80" (so their channels are the
#                 same), subscribers at /sub, publisher at /pub as
#                 bench/channels.sh has them
#   nchan         two nginx (nginx-light + libnginx-mod-nchan,
#                 BENCH_PAIR_CHILDREN workers each), nchan_redis_pass to an
#                 upstream with "nchan_redis_server redis://127.0.0.1:P"
#                 (nchan's default storage mode, distributed), the same
#                 locations as bench/channels.sh
#   mxhr-single   one httpd without Redis, BENCH_CHILDREN x BENCH_THREADS
#                 (4 x 16), all subscribers on it: bench/channels.sh's
#                 fan-out row
#   nchan-single  one nginx without Redis, BENCH_CHILDREN workers
# The pairs have as many processes in all as the single servers.
# A fresh redis-server (--save '', no persistence) on a free port of
# 127.0.0.1 for every run of a pair; its CPU is counted.
#
# Fan-out: 1 channel, N subscribers (BENCH_N, default "1000 10000"),
# subscriber k on server A when k is even, B when odd (the pairs; the
# single servers take them all), BENCH_PUB_RATE publishes a second
# (default 1) to server A for BENCH_PUB_SECONDS (default 10), each a
# BENCH_BODY-byte body (default 64) that starts with its send time in
# epoch microseconds. Subscribers: BENCH_FORMATS (default "multipart";
# "multipart sse" for both), by the request's Accept.
# The client is bench/chclient.c, built with a shim (written to the
# temporary folder, not in the tree) that sends subscriber k to port
# k % 2 of BENCH_SUB_PORTS: one client, one histogram of delays over
# both servers' subscribers.
#
# Measured: subscribers held, messages received / expected, delay
# publish -> parsed p50/p99/max over all subscribers, CPU from the first
# publish to a second after the last, per 1,000 delivered messages: every
# thread of BOTH servers' processes (master/parent and children) PLUS the
# redis-server's (for the pairs; the share that is redis-server's is
# shown apart), RSS per subscriber (servers only, not redis-server),
# publishes answered, redis commands per publish. Each configuration runs
# BENCH_REPEAT times (default 3) in one invocation; the table shows
# medians, ratios from the same invocation.
#
# Other knobs: BENCH_RATE (new subscribers a second, default 4000),
# BENCH_ADDRS (source addresses 127.0.0.1..N, default 4), BENCH_DRAIN
# (seconds after the last publish, default 1), BENCH_BUILD=0 (do not run
# scripts/build.sh; the .so is copied at the start either way, so a
# rebuild during the run changes nothing), BENCH_MXHR_EXTRA /
# BENCH_NCHAN_EXTRA (more directives, server level / nginx http block),
# BENCH_KEEP (raw result lines and the logs of runs whose server
# complained, default /tmp/mxhr-redisbench-last).
# BENCH_QUICK=1: one run each, 4 s of publishing (about 2 minutes).
#
#   bash bench/redis.sh                     # the full run
#   BENCH_QUICK=1 bash bench/redis.sh       # a short check
#   BENCH_KINDS=nchan BENCH_N=200 BENCH_REPEAT=1 bash bench/redis.sh
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src"
QUICK=${BENCH_QUICK:-0}
q() { if [ "$QUICK" = 1 ]; then echo "$1"; else echo "$2"; fi; }
REPEAT=${BENCH_REPEAT:-$(q 1 3)}
KINDS=${BENCH_KINDS:-mxhr nchan mxhr-single nchan-single}
NS=${BENCH_N:-1000 10000}
PUB_RATE=${BENCH_PUB_RATE:-1}
PUB_SECONDS=${BENCH_PUB_SECONDS:-$(q 4 10)}
FORMATS=${BENCH_FORMATS:-multipart}
for f in $FORMATS; do
    case "$f" in multipart|sse) ;;
    *) echo "bench: BENCH_FORMATS: multipart and/or sse, not $f" >&2; exit 2 ;;
    esac
done
for k in $KINDS; do
    case "$k" in mxhr|nchan|mxhr-single|nchan-single) ;;
    *) echo "bench: BENCH_KINDS: mxhr nchan mxhr-single nchan-single, not $k" >&2; exit 2 ;;
    esac
done
BODY=${BENCH_BODY:-64}
SINGLE_CHILDREN=${BENCH_CHILDREN:-4}
PAIR_CHILDREN=${BENCH_PAIR_CHILDREN:-2}
THREADS=${BENCH_THREADS:-16}
RATE=${BENCH_RATE:-4000}
ADDRS=${BENCH_ADDRS:-4}
DRAIN=${BENCH_DRAIN:-1}

need_mxhr=0
case " $KINDS " in *" mxhr "*|*" mxhr-single "*) need_mxhr=1 ;; esac
bash scripts/deps.sh bench
command -v redis-server >/dev/null && command -v redis-cli >/dev/null \
    || { echo "bench: redis-server and redis-cli are needed (apt-get install redis-server)" >&2; exit 1; }
if [ "$need_mxhr" = 1 ] && [ "${BENCH_BUILD:-1}" != 0 ]; then
    bash scripts/deps.sh build
    bash scripts/build.sh
fi
. "$src/bench/lib.sh"
bench_workdir mxhr-redisbench
if [ "$need_mxhr" = 1 ]; then
    [ -f .libs/mod_mxhr.so ] || { echo "bench: no .libs/mod_mxhr.so" >&2; exit 1; }
    cp .libs/mod_mxhr.so "$work/mod_mxhr.so"
fi

# The client: bench/chclient.c as it is, with bind_source/connect_watch
# wrapped so that subscriber k connects to port k % n of BENCH_SUB_PORTS
# (the publisher's connections are not touched: they go to -p).
cat > "$work/split.c" <<'C'
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include "netutil.h"

int real_bind_source(int fd, int k, int addrs);
int real_connect_watch(int fd, const struct sockaddr_in *sa, int ep, void *ptr);

static int last_k;

int bind_source(int fd, int k, int addrs)
{
    last_k = k;
    return real_bind_source(fd, k, addrs);
}

int connect_watch(int fd, const struct sockaddr_in *sa, int ep, void *ptr)
{
    static int ports[8], n = -1;
    struct sockaddr_in s = *sa;

    if (n < 0) {
        const char *e = getenv("BENCH_SUB_PORTS");
        char *end;

        n = 0;
        while (e && *e && n < 8) {
            long p = strtol(e, &end, 10);
            if (end == e) {
                break;
            }
            if (p > 0 && p < 65536) {
                ports[n++] = (int)p;
            }
            e = end;
        }
    }
    if (n > 0) {
        s.sin_port = htons(ports[last_k % n]);
    }
    return real_connect_watch(fd, &s, ep, ptr);
}
C
gcc -O2 -Wall -Ibench -c -o "$work/netutil.o" \
    -Dbind_source=real_bind_source -Dconnect_watch=real_connect_watch bench/netutil.c
gcc -O2 -Wall -Ibench -o "$work/chclient" bench/chclient.c "$work/split.c" "$work/netutil.o"
# As many descriptors as this shell may have (the hard limit may be
# 20,000 here): the servers and the client inherit them.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
nofile=$(ulimit -n)


free_port() {   # a port below the ephemeral range on which nothing listens
    local p
    for _ in $(seq 1 50); do
        p=$(( 10000 + RANDOM % 20000 ))
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
    done
    return 1
}

start_redis() {     # dir port
    local d=$1 port=$2
    mkdir -p "$d"
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
        --daemonize yes --pidfile "$d/redis.pid" --dir "$d" \
        --logfile "$d/redis.log" || return 1
    wait_port "$port" "$d/redis.pid" || return 1
    pids_to_stop+=("$(cat "$d/redis.pid")")
}

# start_mxhr DIR PORT [REDIS_PORT]: CHILDREN x THREADS (set by the caller).
start_mxhr() {
    local d=$1 port=$2 rport=${3:-}
    local opts=(--so "$work/mod_mxhr.so")
    # Both servers: the same name and port, so the same channels.
    [ -z "$rport" ] || opts+=(--server-name bench.test:80
                              --redis "redis://127.0.0.1:$rport"
                              --load-after status --status)
    mkdir -p "$d"
    { httpd_conf_head "$d" "$port" event 0 "${opts[@]}"
      mxhr_channel_conf
    } > "$d/httpd.conf"
    httpd_start "$d" "$port"
}

# start_nchan DIR PORT [REDIS_PORT]: CHILDREN workers.
start_nchan() {
    local d=$1 port=$2 rport=${3:-} up="" pass=""
    mkdir -p "$d"
    if [ -n "$rport" ]; then
        up="    upstream bench_redis {
        nchan_redis_server redis://127.0.0.1:$rport;
    }"
        pass="            nchan_redis_pass bench_redis;"
    fi
    nchan_conf "$d" "$port" "    keepalive_requests 1000000000;
    keepalive_timeout 60s;
    nchan_shared_memory_size 256m;
$up
${BENCH_NCHAN_EXTRA:-}" "        location = /pub {
            nchan_publisher;
            nchan_channel_id \$arg_id;
            nchan_message_buffer_length 100;
            nchan_message_timeout 1h;
$pass
        }
        location = /sub {
            nchan_subscriber;
            nchan_channel_id \$arg_id;
            nchan_subscriber_first_message newest;
$pass
        }" > "$d/nginx.conf"
    nchan_start "$d" "$port"
}

# The server's MxhrRedis* lines of /server-status?auto, as key=value.
mxhr_status() {     # port prefix
    curl -s -m 3 "http://127.0.0.1:$1/server-status?auto" 2>/dev/null \
        | awk -v p="$2" -F': *' '/^MxhrRedis/ {printf " %s%s=%s", p, $1, $2}'
}

redis_cmds() {      # port: commands redis-server has processed
    redis-cli -p "$1" info stats 2>/dev/null \
        | awk -F: '/^total_commands_processed:/ {gsub(/\r/, "", $2); print $2}'
}

keep=${BENCH_KEEP:-/tmp/mxhr-redisbench-last}
rm -rf "$keep"
mkdir -p "$keep"
results=$keep/results.txt
: > "$results"

# run_one KIND FORMAT N REP
run_one() {
    local kind=$1 fmt=$2 n=$3 rep=$4
    local d run0 accept pair=0 server try started rport="" pa pb=""
    run0=$(date +%s%N)
    d="$work/$kind-$fmt-$n-$rep"
    case "$fmt" in
    sse) accept="Accept: text/event-stream" ;;
    *)   accept="Accept: multipart/mixed" ;;
    esac
    case "$kind" in
    mxhr|nchan) pair=1; CHILDREN=$PAIR_CHILDREN ;;
    *)          CHILDREN=$SINGLE_CHILDREN ;;
    esac
    server=${kind%-single}
    local spids=() slogs=() ports=()
    local first_stop=${#pids_to_stop[@]}
    started=""
    for try in 1 2 3 4 5; do
        rm -rf "$d"; mkdir -p "$d"
        spids=(); slogs=(); ports=(); rport=""
        pids_to_stop=("${pids_to_stop[@]:0:$first_stop}")
        if [ "$pair" = 1 ]; then
            rport=$(free_port) && start_redis "$d/redis" "$rport" \
                || { stop_all_of_run; continue; }
        fi
        pa=$(free_port) && "start_$server" "$d/a" "$pa" $rport \
            || { stop_all_of_run; continue; }
        ports+=("$pa")
        if [ "$pair" = 1 ]; then
            pb=$(free_port) && "start_$server" "$d/b" "$pb" "$rport" \
                || { stop_all_of_run; continue; }
            ports+=("$pb")
        fi
        started=1
        break
    done
    if [ -z "$started" ]; then
        echo "test=redis kind=$kind fmt=$fmt n=$n rep=$rep failed=start" | tee -a "$results"
        return 1
    fi
    local x
    for x in a b; do
        [ -d "$d/$x" ] || continue
        case "$server" in
        mxhr)  spids+=("$(cat "$d/$x/httpd.pid")"); slogs+=("$d/$x/error_log") ;;
        nchan) spids+=("$(cat "$d/$x/nginx.pid")"); slogs+=("$d/$x/error.log") ;;
        esac
    done
    local rpid=""
    [ -z "$rport" ] || rpid=$(cat "$d/redis/redis.pid")
    # mod_mxhr's children connect to Redis as they start: wait for it.
    if [ "$server" = mxhr ] && [ "$pair" = 1 ]; then
        for x in "${ports[@]}"; do
            for _ in $(seq 1 50); do
                curl -s -m 1 "http://127.0.0.1:$x/server-status?auto" 2>/dev/null \
                    | grep -q '^MxhrRedisConnected: 1' && break
                sleep 0.1
            done
        done
    fi
    sleep 0.5
    local rss0 rss1 cpu0 cpu1 rcpu0=0 rcpu1=0 t0 t1 sub_pid subline publine procs p
    local cmds0=0 cmds1=0 st0="" st1=""
    rss0=0; for p in "${spids[@]}"; do rss0=$((rss0 + $(rss_kb "$p"))); done
    procs=$(( n >= 2000 ? 2 : 1 ))
    while [ $(( n / procs + 100 )) -gt "$nofile" ]; do procs=$((procs + 1)); done
    BENCH_SUB_PORTS="${ports[*]}" "$work/chclient" sub -p "$pa" -u /sub -n "$n" -c 1 \
        -r "$RATE" -P "$procs" -A "$ADDRS" -H "$accept" -f "$fmt" -R "$d.ready" \
        -t 300 > "$d.sub" 2> "$d.sub.err" &
    sub_pid=$!
    bg_pids+=("$sub_pid")
    local waited=0 limit=$(( (n / RATE + 30) * 10 ))
    until [ -e "$d.ready" ] || [ "$waited" -ge "$limit" ]; do
        sleep 0.1; waited=$((waited + 1))
    done
    [ -e "$d.ready" ] || echo "bench: $kind $fmt $n: subscribers not ready in time" >&2
    sleep 1
    if [ "$server" = mxhr ] && [ "$pair" = 1 ]; then
        st0="$(mxhr_status "$pa" a0_)$(mxhr_status "$pb" b0_)"
    fi
    [ -z "$rport" ] || cmds0=$(redis_cmds "$rport")
    cpu0=0; for p in "${spids[@]}"; do cpu0=$((cpu0 + $(cpu_ns "$p"))); done
    [ -z "$rpid" ] || rcpu0=$(cpu_ns "$rpid")
    t0=$(date +%s%N)
    publine=$("$work/chclient" pub -p "$pa" -u /pub -c 1 -r "$PUB_RATE" \
              -d "$PUB_SECONDS" -n "$n" -b "$BODY" -k 16 2>> "$d.pub.err") || true
    sleep "$DRAIN"
    cpu1=0; for p in "${spids[@]}"; do cpu1=$((cpu1 + $(cpu_ns "$p"))); done
    [ -z "$rpid" ] || rcpu1=$(cpu_ns "$rpid")
    t1=$(date +%s%N)
    [ -z "$rport" ] || cmds1=$(redis_cmds "$rport")
    rss1=0; for p in "${spids[@]}"; do rss1=$((rss1 + $(rss_kb "$p"))); done
    if [ "$server" = mxhr ] && [ "$pair" = 1 ]; then
        st1="$(mxhr_status "$pa" a1_)$(mxhr_status "$pb" b1_)"
    fi
    kill -TERM "$sub_pid" 2>/dev/null || true
    wait "$sub_pid" 2>/dev/null || true
    subline=$(cat "$d.sub")
    stop_all_of_run
    # Server complaints, less nginx's about raising its descriptor limit.
    local errs=0 e log
    for log in "${slogs[@]}"; do
        e=$(grep -v -e 'setrlimit(RLIMIT_NOFILE' -e 'AH00489' -e 'AH00094' -e 'AH10159' "$log" 2>/dev/null \
            | grep -c -i -e error -e crit -e alert -e emerg -e 'exit signal' || true)
        if [ "$e" != 0 ]; then
            echo "bench: $kind $fmt $n: $e complaints in $log:" >&2
            grep -v -e 'setrlimit(RLIMIT_NOFILE' -e AH10159 "$log" | tail -5 >&2 || true
            cp "$log" "$keep/$kind-$fmt-$n-$rep-$(basename "$(dirname "$log")").log" 2>/dev/null || true
        fi
        errs=$((errs + e))
    done
    [ ! -s "$d.pub.err" ] || sed 's/^/bench: publisher: /' "$d.pub.err" | head -3 >&2
    [ ! -s "$d.sub.err" ] || sed 's/^/bench: subscribers: /' "$d.sub.err" | head -3 >&2
    echo "test=redis kind=$kind fmt=$fmt n=$n rep=$rep servers=${#spids[@]}" \
         "rss0=$rss0 rss1=$rss1 cpu_ns=$((cpu1 - cpu0 + rcpu1 - rcpu0))" \
         "redis_cpu_ns=$((rcpu1 - rcpu0)) redis_cmds=$((cmds1 - cmds0))" \
         "win_ms=$(( (t1 - t0) / 1000000 ))" \
         "errlog=$errs run_ms=$(( ($(date +%s%N) - run0) / 1000000 )) $publine $subline$st0$st1" \
        | tee -a "$results"
}

# Stops this run's servers and redis-server (the PIDs after first_stop,
# a local of run_one, in pids_to_stop), servers first.
stop_all_of_run() {
    local i
    for (( i = ${#pids_to_stop[@]} - 1; i >= first_stop; i-- )); do
        stop_server "${pids_to_stop[$i]}"
    done
    pids_to_stop=("${pids_to_stop[@]:0:$first_stop}")
}

started_at=$(date +%s)
for rep in $(seq 1 "$REPEAT"); do
    for n in $NS; do for fmt in $FORMATS; do for kind in $KINDS; do
        run_one "$kind" "$fmt" "$n" "$rep" || true
    done; done; done
done

echo
echo "redis.sh: $(( $(date +%s) - started_at )) s of runs; raw lines in $results"
perl "$src/bench/redisreport.pl" "$results"
