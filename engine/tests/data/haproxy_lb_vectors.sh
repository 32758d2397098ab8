#!/usr/bin/env bash
# usage: engine/tests/data/haproxy_lb_vectors.sh > engine/tests/data/haproxy_lb_vectors.txt
#
# Regenerates the map-based hashing vectors: runs Debian's haproxy in front of one dummy
# server listed several times under different names and weights, sends each key through
# each balancing backend, and prints `backend key server` for the server haproxy chose.
# engine/tests/lb_haproxy_vectors.rs replays the same keys through ringlb's algorithms.
set -euo pipefail

command -v haproxy >/dev/null || { echo "haproxy is not installed" >&2; exit 1; }
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT

base=18400
# name | balance | hash-type | servers as name:weight
backends=(
  "uri_sdbm|uri|map-based sdbm|a:1 b:2 c:3"
  "uri_djb2|uri|map-based djb2|a:1 b:2 c:3"
  "uri_wt6|uri|map-based wt6|a:1 b:2 c:3"
  "uri_crc32|uri|map-based crc32|a:1 b:2 c:3"
  "uri_sdbm_avalanche|uri|map-based sdbm avalanche|a:1 b:2 c:3"
  "uri_equal|uri|map-based sdbm|a:1 b:1 c:1 d:1 e:1"
  "uri_gcd|uri|map-based sdbm|a:10 b:20 c:30 d:0"
  "uri_depth|uri depth 2|map-based sdbm|a:1 b:2 c:3"
  "uri_len|uri len 6|map-based sdbm|a:1 b:2 c:3"
  "uri_whole|uri whole|map-based sdbm|a:1 b:2 c:3"
  "url_param|url_param key|map-based sdbm|a:1 b:2 c:3"
  "hdr|hdr(x-key)|map-based sdbm|a:1 b:2 c:3"
  "hdr_domain|hdr(host) use_domain_only|map-based sdbm|a:1 b:1 c:1 d:1"
  "source|source|map-based sdbm|a:1 b:2 c:3"
  "source_equal|source|map-based sdbm|a:1 b:1 c:1 d:1 e:1 f:1 g:1"
)

{
  echo "global"
  echo "  log stderr format raw local0 emerg"
  echo "defaults"
  echo "  mode http"
  echo "  timeout client 5s"
  echo "  timeout server 5s"
  echo "  timeout connect 5s"
  echo "listen dummy"
  echo "  bind 127.0.0.1:$base"
  echo "  http-request return status 200 content-type text/plain string ok"
  port=$base
  for b in "${backends[@]}"; do
    IFS='|' read -r name balance hashtype servers <<<"$b"
    port=$((port + 1))
    echo "listen $name"
    echo "  bind 0.0.0.0:$port"
    echo "  balance $balance"
    echo "  hash-type $hashtype"
    echo "  http-response set-header X-Server %[srv_name]"
    for s in $servers; do
      echo "  server ${s%%:*} 127.0.0.1:$base weight ${s##*:}"
    done
  done
} >"$dir/haproxy.cfg"

haproxy -f "$dir/haproxy.cfg" -db >"$dir/log" 2>&1 &
pid=$!
sleep 1

ask() { # port key curl-args...
  local port=$1 key=$2
  shift 2
  curl -s -o /dev/null -D - "$@" | tr -d '\r' | sed -n 's/^x-server: //Ip'
}

port=$base
for b in "${backends[@]}"; do
  IFS='|' read -r name balance _ _ <<<"$b"
  port=$((port + 1))
  for i in $(seq 1 40); do
    case "$balance" in
      uri*) key="/app$i/item/$((i * 37))/x?q=$i"
            srv=$(ask "$port" "$key" "http://127.0.0.1:$port$key") ;;
      url_param*) key="user$((i * 13))"
            srv=$(ask "$port" "$key" "http://127.0.0.1:$port/p?a=1&key=$key&z=2") ;;
      hdr\(x-key\)*) key="client-$i"
            srv=$(ask "$port" "$key" -H "X-Key: $key" "http://127.0.0.1:$port/") ;;
      hdr\(host\)*) key="www.site$i.com:8080"
            srv=$(ask "$port" "$key" -H "Host: $key" "http://127.0.0.1:$port/") ;;
      source) key="127.0.$((i / 7)).$((i * 5 % 250 + 1))"
            srv=$(ask "$port" "$key" --interface "$key" "http://127.0.0.1:$port/") ;;
    esac
    echo "$name $key $srv"
  done
done
