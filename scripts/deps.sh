#!/usr/bin/env bash
# usage: scripts/deps.sh — installs the Debian packages the test suite needs (as root) and the Rust components.
set -euo pipefail

# Debian packages the tests use: the benchmark smoke run drives haproxy, nginx (and its stream
# module for TCP mode), wrk and h2load; the HA pair scenario needs keepalived, iproute2 (ip
# netns, veth, bridge) and curl; the runtime socket tests talk through socat, and the stats
# page test renders the page in headless chromium; the TLS tests make certificates with openssl,
# drive openssl s_client and curl, and scan a listener with testssl.sh; the HTTP/2 tests run a
# real gRPC server and client (python3-grpcio, under /usr/bin/python3) and a WebSocket client
# over HTTP/2 (python3-h2).
packages=(haproxy nginx libnginx-mod-stream wrk nghttp2-client keepalived iproute2 curl socat chromium openssl testssl.sh python3-grpcio python3-h2)

missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  else
    echo "missing Debian packages: ${missing[*]} (run: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi

for c in rustfmt clippy; do
  rustup component list --installed 2>/dev/null | grep -q "^$c" || rustup component add "$c"
done

# The fuzz smoke run in scripts/test.sh drives the fuzz targets through cargo-fuzz.
cargo fuzz --version >/dev/null 2>&1 || cargo install --locked cargo-fuzz
