#!/usr/bin/env bash
# usage: [RINGLB=BINARY] [WORKLOADS="keepalive close 64k"] perf/syscalls.sh [REQUESTS] — system
# calls per proxied request (strace -c -f on the proxy), keep-alive and close with 6-byte
# responses and keep-alive with 64 KiB ones, for ringlb and haproxy, one worker each on PROXY_CPU.
#
# After a warm-up, strace attaches to the running proxy, h2load --h1 sends REQUESTS requests
# over 50 connections, and the count of every call (io_uring_enter included) is divided by
# REQUESTS. strace slows the proxy down; only the counts mean anything, not the timings.
set -euo pipefail
source "$(dirname "$0")/common.sh"

REQUESTS=${1:-20000}
RINGLB=${RINGLB:-$ROOT/target/release/ringlb}
prepare "${WORK:-/tmp/ringlb-syscalls}" strace h2load haproxy taskset

BACK=$(free_port)
start_fixture "$BACK"

printf "%-8s %-10s %14s  %s\n" proxy workload calls/request "top calls per request"
for proxy in ringlb haproxy; do
  for workload in ${WORKLOADS:-keepalive close 64k}; do
    FRONT=$(free_port)
    cfg="$WORK/$proxy.cfg"
    write_config "$proxy" http "$FRONT" "$BACK" "$cfg"
    if [[ $proxy == ringlb ]]; then cmd=("$RINGLB" -f "$cfg"); else cmd=(haproxy -db -f "$cfg"); fi
    taskset -c "$PROXY_CPU" "${cmd[@]}" >"$WORK/$proxy.log" 2>&1 &
    pid=$!
    STARTED+=("$pid")
    wait_port "$FRONT" "$pid"
    load_request "$workload" "$FRONT"
    taskset -c "$LOAD_CPU" h2load --h1 -n 2000 -c 50 "${HDR[@]}" "$URL" >/dev/null
    out="$WORK/strace.$proxy.$workload"
    strace -c -f -p "$pid" -o "$out" 2>/dev/null &
    tracer=$!
    sleep 0.5
    taskset -c "$LOAD_CPU" h2load --h1 -n "$REQUESTS" -c 50 "${HDR[@]}" "$URL" >"$WORK/h2load.txt"
    kill -INT "$tracer"
    wait "$tracer" 2>/dev/null || true
    awk -v n="$REQUESTS" -v p="$proxy" -v w="$workload" '
      $NF == "total" { total = $(NF-2) }
      $1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" { calls[$NF] = $4 }
      END {
        top = ""
        k = 0
        while (k < 4) {
          best = ""; max = 0
          for (c in calls) if (calls[c] > max) { max = calls[c]; best = c }
          if (best == "") break
          top = top sprintf("%s %.2f  ", best, max / n)
          delete calls[best]
          k++
        }
        printf "%-8s %-10s %14.2f  %s\n", p, w, total / n, top
      }' "$out"
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null || true
    STARTED=("${STARTED[@]/$pid}")
  done
done
