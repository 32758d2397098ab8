#!/usr/bin/env bash
# usage: [RULES=N] [RINGLB=BINARY] perf/instructions.sh [REQUESTS] — instructions per proxied request (callgrind), keep-alive
# and close, for ringlb and haproxy; writes the callgrind dumps to $WORK (default /tmp/ringlb-perf).
#
# Each proxy runs under valgrind --tool=callgrind with one thread; after a warm-up the counters
# are zeroed (callgrind_control -z), h2load --h1 sends REQUESTS requests (50 connections), the
# profile is dumped (callgrind_control -d) and the proxy killed (ringlb does not exit on signals
# under valgrind). Instruction counts repeat to a fraction of a percent where timings do not.
set -euo pipefail
source "$(dirname "$0")/common.sh"

REQUESTS=${1:-20000}
# A saved binary (say, the build before a change) instead of the tree's release build.
RINGLB=${RINGLB:-$ROOT/target/release/ringlb}
prepare "${WORK:-/tmp/ringlb-perf}" valgrind callgrind_control h2load haproxy taskset

BACK=$(free_port)
start_fixture "$BACK"

printf "%-8s %-10s %12s %14s\n" proxy workload requests "instr/request"
for proxy in ringlb haproxy; do
  for workload in keepalive close; do
    FRONT=$(free_port)
    cfg="$WORK/$proxy.cfg"
    write_config "$proxy" http "$FRONT" "$BACK" "$cfg"
    out="$WORK/callgrind.$proxy.$workload"
    rm -f "$out"*
    if [[ $proxy == ringlb ]]; then cmd=("$RINGLB" -f "$cfg"); else cmd=(haproxy -db -f "$cfg"); fi
    taskset -c "$PROXY_CPU" valgrind --tool=callgrind --callgrind-out-file="$out" "${cmd[@]}" >"$WORK/$proxy.log" 2>&1 &
    pid=$!
    STARTED+=("$pid")
    wait_port "$FRONT" "$pid"
    load_request "$workload" "$FRONT"
    taskset -c "$LOAD_CPU" h2load --h1 -n 2000 -c 50 "${HDR[@]}" "$URL" >/dev/null
    callgrind_control -z "$pid" >/dev/null 2>&1
    taskset -c "$LOAD_CPU" h2load --h1 -n "$REQUESTS" -c 50 "${HDR[@]}" "$URL" >"$WORK/h2load.$proxy.$workload.txt"
    callgrind_control -d "$pid" >/dev/null 2>&1
    sleep 1
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    ok=$(awk '/^requests:/{print $8}' "$WORK/h2load.$proxy.$workload.txt")
    # The dump taken on request is the newest file; its "summary:" line is the total Ir.
    dump=$(ls -t "$out"* | head -1)
    ir=$(awk '/^(summary|totals):/{print $2; exit}' "$dump")
    printf "%-8s %-10s %12s %14s\n" "$proxy" "$workload" "$ok" "$(awk -v i="$ir" -v n="$ok" 'BEGIN{printf "%.0f", i/n}')"
    cp "$dump" "$WORK/$proxy.$workload.callgrind"
  done
done
echo "dumps: $WORK/{ringlb,haproxy}.{keepalive,close}.callgrind (callgrind_annotate FILE | head -40)"
