#!/usr/bin/env bash
# usage: scripts/ha-scenario.sh [RINGLB_BINARY] — a ringlb + keepalived pair in network namespaces: failover scenarios with timings (as root).
#
# Topology, every address inside namespaces of this run only (198.18.0.0/15 is set aside for
# network benchmarks), one bridge in a namespace of its own:
#
#   client 198.18.0.10 ─┐
#   lb1    198.18.0.11 ─┤  ringlb + keepalived MASTER 101 ┐ VIP 198.18.0.100
#   lb2    198.18.0.12 ─┼─ ringlb + keepalived BACKUP 100 ┘
#   be1    198.18.0.21 ─┤  backend answering "be1"
#   be2    198.18.0.22 ─┘  backend answering "be2"
#
# lb1 and lb2 run examples/ha/ringlb.cfg and examples/ha/keepalived-lb{1,2}.conf, with only the
# paths changed. Scenarios: 1 normal, 2 ringlb on lb1 killed, 3 keepalived on lb1 stopped,
# 4 lb1 back (preempts; with nopreempt it does not), 5 a backend dies. Everything started here
# is stopped and every namespace removed on exit, failure included.
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$(pwd)

skip() {
  echo "ha-scenario: skipped: $*"
  exit 0
}
[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces, keepalived)"
command -v ip >/dev/null || skip "iproute2 is not installed"
command -v keepalived >/dev/null || skip "keepalived is not installed"
command -v curl >/dev/null || skip "curl is not installed"
ip netns add "rlbha-probe-$$" 2>/dev/null || skip "'ip netns' is not available here"
ip netns del "rlbha-probe-$$"

if [ $# -ge 1 ]; then
  ringlb_src=$1
else
  cargo build -q -p ringlb
  ringlb_src=$repo/target/debug/ringlb
fi

vip=198.18.0.100
advert_int=1
tag=rlbha$$
ns() { echo "$tag-$1"; }
# Every file of the run, under /run: keepalived's enable_script_security refuses a script
# whose directories a non-root user could write (as /tmp).
state=$(mktemp -d /run/ringlb-ha.XXXXXX)
chmod 755 "$state"
mkdir -m 755 "$state/bin"
install -m 755 "$ringlb_src" "$state/bin/ringlb"
pids=()

teardown() {
  local status=$?
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  # keepalived's VRRP child and check scripts run in the namespaces too. Give keepalived
  # time to stop them and reap them itself, then kill what is left.
  local left
  for _ in $(seq 40); do
    left=$(for n in client lb1 lb2 be1 be2 sw; do ip netns pids "$(ns $n)" 2>/dev/null; done)
    [ -n "$left" ] || break
    sleep 0.05
  done
  for pid in $left; do
    kill -9 "$pid" 2>/dev/null || true
  done
  for n in client lb1 lb2 be1 be2 sw; do
    ip netns del "$(ns $n)" 2>/dev/null || true
  done
  if [ "$status" -ne 0 ]; then
    echo "ha-scenario: FAILED; last lines of the logs:" >&2
    for f in "$state"/*.log; do
      echo "--- $f" >&2
      tail -n 15 "$f" >&2 || true
    done
  fi
  rm -rf "$state"
  exit "$status"
}
trap teardown EXIT
trap 'exit 130' INT TERM

fail() {
  echo "ha-scenario: FAIL: $*" >&2
  exit 1
}

now_ms() {
  local t=$EPOCHREALTIME
  echo $((${t%.*} * 1000 + 10#${t#*.} / 1000))
}

# ---- topology --------------------------------------------------------------------------

ip netns add "$(ns sw)"
ip -n "$(ns sw)" link set lo up
ip -n "$(ns sw)" link add br0 type bridge
ip -n "$(ns sw)" link set br0 up
declare -A addr=([client]=198.18.0.10 [lb1]=198.18.0.11 [lb2]=198.18.0.12 [be1]=198.18.0.21 [be2]=198.18.0.22)
for n in client lb1 lb2 be1 be2; do
  ip netns add "$(ns $n)"
  ip -n "$(ns $n)" link set lo up
  ip link add eth0 netns "$(ns $n)" type veth peer name "$n" netns "$(ns sw)"
  ip -n "$(ns sw)" link set "$n" master br0 up
  ip -n "$(ns $n)" addr add "${addr[$n]}/24" dev eth0
  ip -n "$(ns $n)" link set eth0 up
done

# Runs "$@" in namespace $1 in the background, output to $state/$2.log; prints the pid.
spawn() {
  local where=$1 log=$2
  shift 2
  ip netns exec "$(ns "$where")" "$@" >>"$state/$log.log" 2>&1 &
  pids+=($!)
  # Stopped by pid at teardown; no job notices from bash when a scenario kills it.
  disown $!
  echo $!
}

# ---- backends: ringlb answering with its own name ---------------------------------------

for b in be1 be2; do
  cat >"$state/$b.cfg" <<EOF
global
    nbthread 1
defaults
    mode http
    timeout client 10s
listen $b
    bind :80
    http-request return status 200 content-type text/plain string "$b"
EOF
  spawn "$b" "$b" "$state/bin/ringlb" -f "$state/$b.cfg" >"$state/$b.pid"
done

# ---- the pair ---------------------------------------------------------------------------

start_ringlb() {
  spawn "$1" "$1-ringlb" "$state/bin/ringlb" -f "$repo/examples/ha/ringlb.cfg" -p "$state/$1-ringlb.pid" >/dev/null
}

# keepalived's own configuration from examples/ha/, pointed at this run's binary and pidfile.
# With "nopreempt" as $2: both nodes start as BACKUP with `nopreempt` (keepalived ignores
# nopreempt on a MASTER).
write_keepalived_conf() {
  local node=$1 variant=${2:-}
  local out="$state/keepalived-$node.conf"
  sed -e "s#/usr/local/sbin/ringlb#$state/bin/ringlb#" -e "s#/run/ringlb.pid#$state/$node-ringlb.pid#" \
    "$repo/examples/ha/keepalived-$node.conf" >"$out"
  if [ "$variant" = nopreempt ]; then
    sed -i -e 's/^\( *\)state MASTER/\1state BACKUP/' -e 's/^\( *\)state BACKUP.*/&\n\1nopreempt/' "$out"
  fi
}

start_keepalived() {
  local node=$1
  spawn "$node" "$node-keepalived" keepalived --dont-fork --log-console --log-detail --vrrp \
    -f "$state/keepalived-$node.conf" -p "$state/$node-keepalived.pid" \
    -r "$state/$node-vrrp.pid" -c "$state/$node-checkers.pid" >"$state/$node-keepalived.ppid"
}

# Stops the process started by spawn whose pid is in $1 with signal $2, and waits for it.
stop_pid() {
  local pid signal=${2:-TERM}
  pid=$(cat "$1")
  kill -s "$signal" "$pid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.05
  done
  fail "process $pid ($1) still runs 5 s after SIG$signal"
}

sleep_until() {
  local left=$(($1 - $(now_ms)))
  [ "$left" -le 0 ] || sleep "$((left / 1000)).$(printf '%03d' $((left % 1000)))"
}

holds_vip() {
  # Captured first: `grep -q` leaving early could kill `ip` with SIGPIPE under pipefail.
  local out
  out=$(ip -n "$(ns "$1")" -4 addr show dev eth0)
  [[ $out == *" $vip/"* ]]
}

# Waits up to $2 seconds for the VIP to be on $1 and nowhere else; prints the milliseconds
# since $3 (a now_ms value) when it is.
wait_vip_on() {
  local node=$1 limit_ms=$(($2 * 1000)) since=$3 other
  [ "$node" = lb1 ] && other=lb2 || other=lb1
  while :; do
    if holds_vip "$node" && ! holds_vip "$other"; then
      echo $(($(now_ms) - since))
      return 0
    fi
    [ $(($(now_ms) - since)) -lt "$limit_ms" ] || return 1
    sleep 0.02
  done
}

# ---- the client: one request per connection, as fast as curl goes ----------------------

cat >"$state/client.sh" <<EOF
#!/usr/bin/env bash
while :; do
  t=\$EPOCHREALTIME
  if body=\$(curl -sf --connect-timeout 0.5 -m 1 http://$vip/ 2>/dev/null); then
    echo "\$t ok \$body"
  else
    echo "\$t fail"
  fi
  sleep 0.01
done
EOF
chmod 755 "$state/client.sh"
spawn client client "$state/client.sh" >/dev/null

# Client results between two now_ms values: "REQUESTS FAILED GAP_MS SERVERS", GAP_MS being
# the longest time without a successful answer (from $1 to the first success, or between two).
traffic() {
  awk -v from="$1" -v to="$2" '
    { split($1, t, "."); ms = t[1] * 1000 + substr(t[2], 1, 3) }
    ms >= from && ms <= to {
      n++
      if ($2 == "fail") { f++; next }
      seen[$3] = 1
      prev = prev ? prev : from
      if (ms - prev > gap) gap = ms - prev
      prev = ms
    }
    END {
      s = ""; for (k in seen) s = s (s ? "," : "") k
      printf "%d %d %d %s\n", n, f, gap, (s ? s : "-")
    }' "$state/client.log"
}

# Prints and records one failover: what happened, the takeover time, failed requests.
report=()
measure() {
  local what=$1 takeover=$2 from=$3 to=$4 n f gap servers
  read -r n f gap servers < <(traffic "$from" "$to")
  local line
  line=$(printf '%-40s takeover %5d ms   failed %2d of %3d requests   no answer for %4d ms' \
    "$what" "$takeover" "$f" "$n" "$gap")
  echo "  $line"
  report+=("$line")
}

# ---- scenario 1: normal ---------------------------------------------------------------

echo "ha-scenario: topology up in namespaces $tag-*; starting ringlb and keepalived"
start_ringlb lb1
start_ringlb lb2
for n in lb1 lb2; do write_keepalived_conf $n; done
# lb1 first: two nodes started in the same second may both time out waiting for an
# advertisement and both claim the VIP for a moment, leaving the client's ARP entry on the
# loser until the next gratuitous ARP.
start_keepalived lb1
wait_vip_on lb1 10 "$(now_ms)" >/dev/null || fail "the VIP is not on lb1 10 s after start"
t_start=$(now_ms)
start_keepalived lb2

echo "1. normal: VIP on lb1, requests balanced over both backends"
# lb2 becomes MASTER on its own after 3 adverts and a skew if it does not hear lb1: still
# BACKUP after that time proves VRRP multicast crosses the bridge.
sleep_until $((t_start + (3 * advert_int + 2) * 1000))
t1=$(now_ms)
sleep 2
read -r n f _ servers < <(traffic "$t1" "$(now_ms)")
holds_vip lb2 && fail "lb2 holds the VIP as well: VRRP adverts do not cross the bridge"
holds_vip lb1 || fail "lb1 lost the VIP"
[ "$n" -ge 5 ] || fail "only $n client requests in 2 s"
[ "$f" -eq 0 ] || fail "$f of $n requests failed in normal operation"
[ "$servers" = "be1,be2" ] || [ "$servers" = "be2,be1" ] || fail "requests reached '$servers', not both backends"
echo "  ok: $n requests, none failed, answered by $servers"

# ---- scenario 2: ringlb on lb1 killed ---------------------------------------------------

echo "2. ringlb on lb1 killed: its check fails, the VIP moves to lb2"
t2=$(now_ms)
stop_pid "$state/lb1-ringlb.pid" KILL
took=$(wait_vip_on lb2 $((3 * advert_int)) "$t2") ||
  fail "the VIP is not on lb2 3 advertisement intervals after ringlb on lb1 was killed"
sleep 1
measure "2. ringlb on lb1 killed" "$took" "$t2" "$(now_ms)"
read -r _ f _ servers < <(traffic "$(($(now_ms) - 500))" "$(now_ms)")
[ "$f" -eq 0 ] || fail "requests still fail after the VIP moved to lb2"

echo "4. lb1's ringlb back: its check passes again, lb1 (101) preempts lb2 (100)"
t4=$(now_ms)
start_ringlb lb1
took=$(wait_vip_on lb1 15 "$t4") || fail "lb1 did not take the VIP back 15 s after its ringlb restarted"
sleep 1
measure "4. lb1 back after ringlb restart" "$took" "$t4" "$(now_ms)"

# ---- scenario 3: keepalived on lb1 stopped ---------------------------------------------

echo "3. keepalived on lb1 stopped: the VIP moves to lb2"
t3=$(now_ms)
stop_pid "$state/lb1-keepalived.ppid" TERM
took=$(wait_vip_on lb2 $((3 * advert_int)) "$t3") ||
  fail "the VIP is not on lb2 3 advertisement intervals after keepalived on lb1 stopped"
sleep 1
measure "3. keepalived on lb1 stopped" "$took" "$t3" "$(now_ms)"

echo "4. keepalived on lb1 back: lb1 preempts"
t4=$(now_ms)
start_keepalived lb1
took=$(wait_vip_on lb1 15 "$t4") || fail "lb1 did not take the VIP back 15 s after keepalived restarted"
sleep 1
measure "4. lb1 back after keepalived restart" "$took" "$t4" "$(now_ms)"

# ---- scenario 5: a backend dies --------------------------------------------------------

echo "5. be1 dies: the active ringlb stops sending to it, the VIP stays on lb1"
t5=$(now_ms)
stop_pid "$state/be1.pid" KILL
sleep 3
read -r n f _ servers < <(traffic "$t5" "$(now_ms)")
holds_vip lb1 && ! holds_vip lb2 || fail "the VIP moved when a backend died"
[ "$f" -eq 0 ] || fail "$f of $n requests failed after be1 died"
[ "$servers" = be2 ] || fail "requests after be1 died were answered by '$servers'"
echo "  ok: VIP stays on lb1; $n requests, none failed, all answered by be2"
spawn be1 be1 "$state/bin/ringlb" -f "$state/be1.cfg" >"$state/be1.pid"

# ---- scenario 4 with nopreempt ---------------------------------------------------------

echo "4. with nopreempt: lb1 coming back leaves the VIP on lb2"
stop_pid "$state/lb1-keepalived.ppid" TERM
stop_pid "$state/lb2-keepalived.ppid" TERM
for n in lb1 lb2; do write_keepalived_conf $n nopreempt; done
t_np=$(now_ms)
start_keepalived lb1
wait_vip_on lb1 10 "$t_np" >/dev/null || fail "nopreempt pair: the VIP is not on lb1 alone"
start_keepalived lb2
sleep $((3 * advert_int + 1))
holds_vip lb1 && ! holds_vip lb2 || fail "nopreempt pair: lb2 took the VIP from a healthy lb1"
t_np=$(now_ms)
stop_pid "$state/lb1-ringlb.pid" KILL
took=$(wait_vip_on lb2 $((3 * advert_int)) "$t_np") ||
  fail "nopreempt pair: the VIP is not on lb2 3 advertisement intervals after ringlb on lb1 was killed"
sleep 1
measure "2. ringlb on lb1 killed (nopreempt pair)" "$took" "$t_np" "$(now_ms)"
start_ringlb lb1
sleep $((3 * advert_int + 3))
holds_vip lb2 && ! holds_vip lb1 || fail "nopreempt pair: lb1 took the VIP back although nopreempt is set"
echo "  ok: lb1 is healthy again and stays BACKUP; the VIP stays on lb2"

echo
echo "ha-scenario: all scenarios passed (advert_int ${advert_int} s, client: one curl per connection)"
for line in "${report[@]}"; do
  echo "  $line"
done
