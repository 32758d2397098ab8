#!/usr/bin/env bash
# usage: perf/flamegraph.sh [SECONDS] [OUT.svg] — samples ringlb (one worker on PROXY_CPU) with
# `perf record -e cpu-clock -g` while wrk drives keep-alive load through it, folds the stacks with
# inferno and writes a flame graph (default perf/flamegraph.svg). WORKLOAD=close for
# `Connection: close`, SIZE=65536 for 64 KiB responses.
#
# cpu-clock is a software event, so it works where hardware counters are hidden (VMs). Release
# builds have no frame pointers, so stacks are unwound from DWARF (debug = "line-tables-only").
set -euo pipefail
source "$(dirname "$0")/common.sh"

SECONDS_TO_SAMPLE=${1:-10}
OUT=${2:-$ROOT/perf/flamegraph.svg}
WORKLOAD=${WORKLOAD:-keepalive}
SIZE=${SIZE:-6}
if ! command -v inferno-flamegraph >/dev/null; then
  echo "installing inferno (flame graph folding and rendering) with cargo" >&2
  cargo install --locked inferno
fi
prepare "${WORK:-/tmp/ringlb-perf}" perf wrk taskset

BACK=$(free_port)
FRONT=$(free_port)
start_fixture "$BACK"
write_config ringlb http "$FRONT" "$BACK" "$WORK/ringlb.cfg"
taskset -c "$PROXY_CPU" "$ROOT/target/release/ringlb" -f "$WORK/ringlb.cfg" >"$WORK/ringlb.log" 2>&1 &
pid=$!
STARTED+=("$pid")
wait_port "$FRONT" "$pid"

hdr=()
[[ $WORKLOAD == close ]] && hdr=(-H "Connection: close")
taskset -c "$LOAD_CPU" wrk -t1 -c50 -d"$((SECONDS_TO_SAMPLE + 2))s" "${hdr[@]}" \
  "http://127.0.0.1:$FRONT/?s=$SIZE" >"$WORK/wrk.txt" 2>&1 &
wrk_pid=$!
STARTED+=("$wrk_pid")
sleep 1
perf record -q -e cpu-clock -F 999 -g --call-graph dwarf,16384 -p "$pid" -o "$WORK/perf.data" \
  -- sleep "$SECONDS_TO_SAMPLE" 2>"$WORK/perf-record.log"
wait "$wrk_pid" || true
perf script -i "$WORK/perf.data" 2>/dev/null | inferno-collapse-perf >"$WORK/folded.txt"
inferno-flamegraph --title "ringlb $WORKLOAD, ${SIZE}-byte responses, cpu-clock" <"$WORK/folded.txt" >"$OUT"
grep Requests/sec "$WORK/wrk.txt" || true
echo "flame graph: $OUT (folded stacks: $WORK/folded.txt)"
echo "hottest leaf functions (share of samples):"
awk '{ n=$NF; $NF=""; k=split($0, f, ";"); leaf=f[k]; sub(/ +$/, "", leaf); s[leaf]+=n; t+=n }
     END { for (l in s) printf "%6.2f%%  %s\n", 100*s[l]/t, l }' "$WORK/folded.txt" | sort -rn | head -10
