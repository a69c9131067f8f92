#!/usr/bin/env bash
# Channel (publish/subscribe) benchmark, mod_mxhr beside nchan, on
# 127.0.0.1, one command, prints tables of medians and ratios to nchan:
#   mxhr   mod_mxhr built in this tree: event MPM as bench/run.sh has it
#          (BENCH_CHILDREN x BENCH_THREADS = 4 x 16), subscribers at
#          /sub (SetHandler mxhr-stream, MxhrChannel "%{mxhr_arg:id}",
#          MxhrFormat auto), publisher at /pub (mxhr-publish)
#   nchan  nginx-light + libnginx-mod-nchan, BENCH_CHILDREN workers,
#          nchan_subscriber (its default kinds: websocket eventsource
#          longpoll chunked multipart-mixed) / nchan_publisher with
#          nchan_channel_id $arg_id, 100 messages kept per channel (as
#          mod_mxhr's default) in 256 MB of shared memory
# Two subscriber formats, the same location on both servers, chosen by
# the request's Accept:
#   multipart  Accept: multipart/mixed; the client takes each part's
#              delay when it has parsed the stamp below
#   sse        Accept: text/event-stream (what EventSource sends):
#              mod_mxhr's server-sent events (MxhrFormat auto), nchan's
#              EventSource subscriber; the client parses the event stream
#              and takes each event's delay at the blank line that ends
#              it, from the stamp its data starts with
# Publishers POST a BENCH_BODY-byte body (default 64) that starts with
# the epoch microseconds at which it was sent (one machine, one clock).
#
# Tests (BENCH_TESTS, default "fanout many tp prefork"):
#   fanout   1 channel, BENCH_FANOUT_N subscribers (default "1000 10000"),
#            BENCH_FANOUT_RATES publishes a second (default "1 50"), for
#            BENCH_PUB_SECONDS (default 6), in each of BENCH_FORMATS
#            (default "multipart sse"): per configuration mxhr and nchan
#            multipart, then mxhr and nchan SSE, ratios per format
#   many     BENCH_MANY_N subscribers (default 10000) on as many
#            channels, BENCH_MANY_RATE publishes a second (default 1000)
#            spread over them (publish k to channel k mod N)
#   tp       closed-loop publishing: BENCH_TP_CONNS keep-alive
#            connections (default 8), each POSTing again when answered,
#            for BENCH_TP_SECONDS (default 8), with BENCH_TP_SUBS
#            subscribers on the channel (default "0 100")
#   prefork  mod_mxhr only (nchan has no prefork): prefork MPM with
#            BENCH_PREFORK_N + 4 processes (2 for the publisher, whose
#            keep-alive connections each hold one, and 2 spare),
#            BENCH_PREFORK_N subscribers (default 150) on one channel,
#            BENCH_PREFORK_RATES publishes a second (default "1 50")
# (The subscribers of many, tp and prefork are multipart.)
# Measured: subscribers held, messages received / expected, delay
# publish -> parsed p50/p99/max, server CPU (every thread of the
# server's processes, /proc/P/task/T/schedstat) from the first publish to
# a second after the last, per 1,000 delivered messages (tp: per 1,000
# publishes), server RSS per subscriber ((RSS after publishing - RSS
# idle) / held), publishes per second. Each configuration runs
# BENCH_REPEAT times (default 3), mxhr and nchan one after the other;
# the tables show medians, and the ratios mxhr / nchan come from the same
# invocation. A row where a server ended subscribers (mod_mxhr ends one
# that falls more than MxhrChannelHistory messages behind: the tp row
# with subscribers at defaults) is marked not comparable; to compare
# there anyway: BENCH_TESTS=tp BENCH_MXHR_EXTRA="MxhrChannelHistory 100000".
#
# Other knobs: BENCH_KINDS (default "mxhr nchan"), BENCH_RATE (new
# subscribers a second, default 4000), BENCH_ADDRS (source addresses
# 127.0.0.1..N, default 4), BENCH_DRAIN (seconds after the last publish,
# default 1), BENCH_MXHR_EXTRA / BENCH_NCHAN_EXTRA (more directives, at
# server level / in nginx's http block), BENCH_KEEP (folder for the raw
# result lines and the error logs of runs whose server complained,
# default /tmp/mxhr-chbench-last).
# BENCH_QUICK=1: one run each, 1,000 subscribers (both formats), 2,000
# channels, 50 prefork subscribers, 4 s of publishing (about 2 minutes
# in all).
#
#   bash bench/channels.sh                  # the full run, ~14 minutes
#   BENCH_QUICK=1 bash bench/channels.sh    # a short check
#   BENCH_TESTS=tp BENCH_REPEAT=1 bash bench/channels.sh
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src"
QUICK=${BENCH_QUICK:-0}
q() { if [ "$QUICK" = 1 ]; then echo "$1"; else echo "$2"; fi; }
REPEAT=${BENCH_REPEAT:-$(q 1 3)}
KINDS=${BENCH_KINDS:-mxhr nchan}
TESTS=${BENCH_TESTS:-fanout many tp prefork}
FANOUT_N=${BENCH_FANOUT_N:-$(q 1000 "1000 10000")}
FANOUT_RATES=${BENCH_FANOUT_RATES:-1 50}
PUB_SECONDS=${BENCH_PUB_SECONDS:-$(q 4 6)}
FORMATS=${BENCH_FORMATS:-multipart sse}
for f in $FORMATS; do
    case "$f" in multipart|sse) ;;
    *) echo "bench: BENCH_FORMATS: multipart and/or sse, not $f" >&2; exit 2 ;;
    esac
done
MANY_N=${BENCH_MANY_N:-$(q 2000 10000)}
MANY_RATE=${BENCH_MANY_RATE:-1000}
TP_CONNS=${BENCH_TP_CONNS:-8}
TP_SECONDS=${BENCH_TP_SECONDS:-$(q 3 8)}
TP_SUBS=${BENCH_TP_SUBS:-0 100}
PREFORK_N=${BENCH_PREFORK_N:-$(q 50 150)}
PREFORK_RATES=${BENCH_PREFORK_RATES:-$(q 50 "1 50")}
BODY=${BENCH_BODY:-64}
CHILDREN=${BENCH_CHILDREN:-4}
THREADS=${BENCH_THREADS:-16}
RATE=${BENCH_RATE:-4000}
ADDRS=${BENCH_ADDRS:-4}
DRAIN=${BENCH_DRAIN:-1}

bash scripts/deps.sh build bench
bash scripts/build.sh
. "$src/bench/lib.sh"
bench_workdir mxhr-chbench
gcc -O2 -Wall -o "$work/chclient" bench/chclient.c bench/netutil.c
# As many descriptors as this shell may have (the hard limit may be
# 20,000 here): the servers and the client inherit them.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
nofile=$(ulimit -n)

start_mxhr() {      # dir port [event|prefork PROCS]
    local d=$1 port=$2 mpm=${3:-event} procs=${4:-0}
    mkdir -p "$d"
    { httpd_conf_head "$d" "$port" "$mpm" "$procs"
      mxhr_channel_conf
    } > "$d/httpd.conf"
    httpd_start "$d" "$port"
}

start_nchan() {     # dir port
    local d=$1 port=$2
    mkdir -p "$d"
    nchan_conf "$d" "$port" "    keepalive_requests 1000000000;
    keepalive_timeout 60s;
    nchan_shared_memory_size 256m;
${BENCH_NCHAN_EXTRA:-}" '        location = /pub {
            nchan_publisher;
            nchan_channel_id $arg_id;
            nchan_message_buffer_length 100;
            nchan_message_timeout 1h;
        }
        location = /sub {
            nchan_subscriber;
            nchan_channel_id $arg_id;
            nchan_subscriber_first_message newest;
        }' > "$d/nginx.conf"
    nchan_start "$d" "$port"
}

keep=${BENCH_KEEP:-/tmp/mxhr-chbench-last}
rm -rf "$keep"
mkdir -p "$keep"
results=$keep/results.txt
: > "$results"

# run_one TEST KIND FORMAT SUBS CHANNELS PUBMODE PUBARG REP [MPM_PROCS]
#   FORMAT multipart or sse: the subscribers';
#   PUBMODE pub: PUBARG publishes a second for PUB_SECONDS;
#   PUBMODE loop: PUBARG closed-loop connections for TP_SECONDS.
run_one() {
    local test=$1 kind=$2 fmt=$3 n=$4 c=$5 mode=$6 arg=$7 rep=$8 pprocs=${9:-0}
    local d port pid try started="" log run0 accept
    run0=$(date +%s%N)
    d="$work/$test-$kind-$fmt-$n-$c-$mode$arg-$rep"
    case "$fmt" in
    sse) accept="Accept: text/event-stream" ;;
    *)   accept="Accept: multipart/mixed" ;;
    esac
    for try in 1 2 3 4 5; do
        # Below the ephemeral range, where the client's own sockets live.
        port=$(( 10000 + RANDOM % 20000 ))
        rm -rf "$d"
        case "$kind" in
        mxhr)    if [ "$pprocs" -gt 0 ]; then
                     start_mxhr "$d" "$port" prefork "$pprocs" && started=1
                 else
                     start_mxhr "$d" "$port" && started=1
                 fi ;;
        nchan)   start_nchan "$d" "$port" && started=1 ;;
        esac
        [ -z "$started" ] || break
    done
    if [ -z "$started" ]; then
        echo "test=$test kind=$kind fmt=$fmt n=$n c=$c mode=$mode arg=$arg rep=$rep failed=start" \
            | tee -a "$results"
        return 1
    fi
    case "$kind" in
    mxhr)  pid=$(cat "$d/httpd.pid"); log=$d/error_log ;;
    nchan) pid=$(cat "$d/nginx.pid"); log=$d/error.log ;;
    esac
    sleep 0.5
    local rss0 rss1 cpu0 cpu1 t0 t1 sub_pid="" subline="" publine procs
    rss0=$(rss_kb "$pid")
    if [ "$n" -gt 0 ]; then
        procs=$(( n >= 2000 ? 2 : 1 ))
        while [ $(( n / procs + 100 )) -gt "$nofile" ]; do procs=$((procs + 1)); done
        "$work/chclient" sub -p "$port" -u /sub -n "$n" -c "$c" -r "$RATE" \
            -P "$procs" -A "$ADDRS" -H "$accept" -f "$fmt" -R "$d.ready" \
            -t 300 > "$d.sub" 2> "$d.sub.err" &
        sub_pid=$!
        bg_pids+=("$sub_pid")
        local waited=0 limit=$(( (n / RATE + 30) * 10 ))
        until [ -e "$d.ready" ] || [ "$waited" -ge "$limit" ]; do
            sleep 0.1; waited=$((waited + 1))
        done
        [ -e "$d.ready" ] || echo "bench: $test $kind $fmt: subscribers not ready in time" >&2
        sleep 1
    fi
    cpu0=$(cpu_ns "$pid"); t0=$(date +%s%N)
    if [ "$mode" = pub ]; then
        # Up to 16 connections when answers are slow; prefork: 2, each
        # holds a process.
        publine=$("$work/chclient" pub -p "$port" -u /pub -c "$c" -r "$arg" \
                  -d "$PUB_SECONDS" -n "$n" -b "$BODY" -k $(( pprocs ? 2 : 16 )) \
                  2>> "$d.pub.err") || true
    else
        publine=$("$work/chclient" loop -p "$port" -u /pub -c "$c" -k "$arg" \
                  -d "$TP_SECONDS" -n "$n" -b "$BODY" 2>> "$d.pub.err") || true
    fi
    sleep "$DRAIN"
    cpu1=$(cpu_ns "$pid"); t1=$(date +%s%N)
    rss1=$(rss_kb "$pid")
    if [ -n "$sub_pid" ]; then
        kill -TERM "$sub_pid" 2>/dev/null || true
        wait "$sub_pid" 2>/dev/null || true
        subline=$(cat "$d.sub")
    fi
    stop_server "$pid"
    # Server complaints, less nginx's about raising its descriptor limit.
    local errs
    errs=$(grep -v -e 'setrlimit(RLIMIT_NOFILE' -e 'AH00489' -e 'AH00094' -e 'AH10159' "$log" 2>/dev/null \
           | grep -c -i -e error -e crit -e alert -e emerg -e 'exit signal' || true)
    [ "$errs" = 0 ] || { echo "bench: $test $kind $fmt: $errs complaints in $log:" >&2
                         grep -v -e 'setrlimit(RLIMIT_NOFILE' -e AH10159 "$log" | tail -5 >&2 || true
                         cp "$log" "$keep/${d##*/}.log" 2>/dev/null || true; }
    [ ! -s "$d.pub.err" ] || sed 's/^/bench: publisher: /' "$d.pub.err" | head -3 >&2
    [ ! -s "$d.sub.err" ] || sed 's/^/bench: subscribers: /' "$d.sub.err" | head -3 >&2
    echo "test=$test kind=$kind fmt=$fmt n=$n c=$c mode=$mode arg=$arg rep=$rep" \
         "rss0=$rss0 rss1=$rss1 cpu_ns=$((cpu1 - cpu0)) win_ms=$(( (t1 - t0) / 1000000 ))" \
         "errlog=$errs run_ms=$(( ($(date +%s%N) - run0) / 1000000 )) $publine $subline" \
        | tee -a "$results"
}

started_at=$(date +%s)
for rep in $(seq 1 "$REPEAT"); do
    for test in $TESTS; do
        case "$test" in
        fanout)
            for n in $FANOUT_N; do for r in $FANOUT_RATES; do
                for fmt in $FORMATS; do for kind in $KINDS; do
                    run_one fanout "$kind" "$fmt" "$n" 1 pub "$r" "$rep" || true
                done; done
            done; done ;;
        many)
            for kind in $KINDS; do
                run_one many "$kind" multipart "$MANY_N" "$MANY_N" pub "$MANY_RATE" "$rep" || true
            done ;;
        tp)
            for s in $TP_SUBS; do for kind in $KINDS; do
                run_one tp "$kind" multipart "$s" 1 loop "$TP_CONNS" "$rep" || true
            done; done ;;
        prefork)
            case " $KINDS " in *" mxhr "*)
                for r in $PREFORK_RATES; do
                    run_one prefork mxhr multipart "$PREFORK_N" 1 pub "$r" "$rep" $((PREFORK_N + 4)) || true
                done ;;
            esac ;;
        *) echo "bench: unknown test $test" >&2 ;;
        esac
    done
done

echo
echo "channels.sh: $(( $(date +%s) - started_at )) s of runs; raw lines in $results"
perl "$src/bench/chreport.pl" "$results"
