# Shared by perf/*.sh (sourced, not run): free ports, the fixture backend, configs, cleanup.
# Needs target/release/ringlb and target/release/ringlb-bench (built by the scripts).

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PROXY_CPU=${PROXY_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
STARTED=()

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_port() { # wait_port PORT PID
  local i
  for i in $(seq 1 400); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { echo "process $2 exited before listening on :$1" >&2; return 1; }
    sleep 0.05
  done
  echo "nothing listens on :$1" >&2
  return 1
}

stop_started() { # kills exactly the processes this script started
  local p
  for p in "${STARTED[@]:-}"; do
    [[ -n "$p" ]] && kill -KILL "$p" 2>/dev/null || true
  done
  for p in "${STARTED[@]:-}"; do
    [[ -n "$p" ]] && wait "$p" 2>/dev/null || true
  done
  STARTED=()
}

prepare() { # prepare WORKDIR TOOL... — makes WORKDIR, cleans up on exit, checks the tools, builds
  WORK=$1
  shift
  mkdir -p "$WORK"
  trap stop_started EXIT
  local b
  for b in "$@"; do
    command -v "$b" >/dev/null || { echo "missing $b: run scripts/bench-deps.sh" >&2; exit 1; }
  done
  build
}

build() {
  (cd "$ROOT" && cargo build -q --release -p ringlb -p ringlb-bench)
}

start_fixture() { # start_fixture PORT -> FIXTURE_PID
  taskset -c "$LOAD_CPU" "$ROOT/target/release/ringlb-bench" fixture "$1" "$LOAD_CPU" >"$WORK/fixture.log" 2>&1 &
  FIXTURE_PID=$!
  STARTED+=("$FIXTURE_PID")
  wait_port "$1" "$FIXTURE_PID"
}

load_request() { # load_request WORKLOAD FRONT — sets HDR (keepalive, close, 64k) and URL
  HDR=()
  [[ $1 == close ]] && HDR=(-H "Connection: close")
  URL="http://127.0.0.1:$2/?s=6"
  [[ $1 == 64k ]] && URL="http://127.0.0.1:$2/?s=65536"
  return 0
}

write_config() { # write_config ringlb|haproxy MODE FRONT BACK FILE — one thread on PROXY_CPU
  # RULES=N (http mode): N http-request rules in the frontend, odd ones a path ACL that never
  # matches guarding a deny, even ones a header set on every request.
  local map="cpu-map 1 $PROXY_CPU"
  [[ $1 == haproxy ]] && map="cpu-map 1/1 $PROXY_CPU"
  local rules="" i
  if [[ $2 == http ]]; then
    for ((i = 1; i <= ${RULES:-0}; i++)); do
      if ((i % 2)); then
        rules+=$'\n'"    acl blocked_$i path_beg /blocked$i"$'\n'"    http-request deny if blocked_$i"
      else
        rules+=$'\n'"    http-request set-header X-Rule-$i on"
      fi
    done
  fi
  cat >"$5" <<CFG
global
    nbthread 1
    $map
    maxconn 4096

defaults
    mode $2
    timeout connect 5s
    timeout client 30s
    timeout server 30s

frontend fe
    bind 127.0.0.1:$3$rules
    default_backend be

backend be
    balance roundrobin
    server s1 127.0.0.1:$4
CFG
}
