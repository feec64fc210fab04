# Shared helpers for the local stack scripts. Sourced, not run.
# Every server runs as a plain process under $CW_STATE (git-ignored), bound to 127.0.0.1.
set -euo pipefail

CW_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CW_STATE="${CW_STATE:-$CW_REPO/.state}"
# Downloads and builds are cached outside the checkout so fresh clones reuse them.
CW_CACHE="${CW_CACHE:-$HOME/.cache/continuity-watch}"

CW_KAFKA_VERSION="${CW_KAFKA_VERSION:-4.1.1}"
CW_KAFKA_PORT="${CW_KAFKA_PORT:-19092}"
CW_KAFKA_CONTROLLER_PORT="${CW_KAFKA_CONTROLLER_PORT:-19093}"
CW_KAFKA_HEAP="${CW_KAFKA_HEAP:-768m}"
CW_PROMETHEUS_PORT="${CW_PROMETHEUS_PORT:-19090}"
CW_INFLUX_VERSION="${CW_INFLUX_VERSION:-v1.8.10}"
CW_INFLUX_PORT="${CW_INFLUX_PORT:-18086}"
CW_INFLUX_RPC_PORT="${CW_INFLUX_RPC_PORT:-18088}"

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# pid_alive FILE: true when FILE names a running process.
pid_alive() {
  local file="$1"
  [[ -f "$file" ]] && kill -0 "$(cat "$file")" 2>/dev/null
}

# wait_until SECONDS WHAT COMMAND...: poll COMMAND every 0.5 s until it succeeds.
wait_until() {
  local budget="$1" what="$2"; shift 2
  local deadline=$((SECONDS + budget))
  until "$@" >/dev/null 2>&1; do
    if (( SECONDS >= deadline )); then
      return 1
    fi
    sleep 0.5
  done
  log "$what is healthy"
}

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# http_ok URL: the URL answers 2xx.
http_ok() { curl -fsS --max-time 2 -o /dev/null "$1"; }

# stop_pid FILE NAME: TERM the process, wait up to 20 s, then KILL; remove FILE.
stop_pid() {
  local file="$1" name="$2"
  if ! pid_alive "$file"; then
    rm -f "$file"
    log "$name is not running"
    return 0
  fi
  local pid; pid="$(cat "$file")"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name did not stop in 20 s; killing it"
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
  log "$name stopped"
}

# start_daemon PIDFILE LOGFILE COMMAND...: start COMMAND detached, recording its pid.
start_daemon() {
  local pidfile="$1" logfile="$2"; shift 2
  mkdir -p "$(dirname "$pidfile")" "$(dirname "$logfile")"
  setsid "$@" >>"$logfile" 2>&1 < /dev/null &
  echo $! > "$pidfile"
}

# already_serving NAME PIDFILE PORT_VAR HEALTH_COMMAND...: true when there is nothing to start:
# our own process runs, or another checkout's (or a developer's) healthy server already
# answers on the port, which we then use and `down` here will not touch. Dies when the port
# is taken by something unhealthy.
already_serving() {
  local name="$1" pidfile="$2" port_var="$3"; shift 3
  local port="${!port_var}"
  if pid_alive "$pidfile"; then
    log "$name already running (pid $(cat "$pidfile"))"
    return 0
  fi
  if port_open "$port"; then
    if "$@" >/dev/null 2>&1; then
      log "port $port already serves a healthy server not started from here; using it"
      return 0
    fi
    die "port $port is taken by another process; set $port_var"
  fi
  return 1
}
