#!/usr/bin/env bash
# usage: scripts/bench-deps.sh — installs what ringlb-bench and perf/ drive: haproxy, nginx (with
# its stream module for the TCP workload), wrk, h2load, valgrind, perf, strace and openssl (the TLS
# workloads' certificates). Needs root (or sudo).
set -euo pipefail

packages=(haproxy nginx libnginx-mod-stream wrk nghttp2-client valgrind linux-perf strace openssl)

missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "bench dependencies present: ${packages[*]}"
  exit 0
fi
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}"
# Debian starts the packaged services; the harness runs its own instances on free ports.
for s in haproxy nginx; do
  "${sudo[@]}" systemctl disable --now "$s" >/dev/null 2>&1 || true
done
