#!/usr/bin/env bash
# InfluxDB 1.8 (influxd) built from the Go module proxy, Flux enabled, serving the v2
# compatibility API that influxdb-client uses (bucket "db/rp", token "user:pass", org "-").
# Usage: influxdb.sh install|start|stop|status
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BIN_DIR="$CW_CACHE/influxdb-$CW_INFLUX_VERSION/bin"
BIN="$BIN_DIR/influxd"
DIR="$CW_STATE/influxdb"
PIDFILE="$DIR/influxd.pid"
CONFIG="$DIR/influxdb.conf"
URL="http://127.0.0.1:$CW_INFLUX_PORT"

install() {
  [[ -x "$BIN" ]] && return 0
  command -v go >/dev/null || die "go not found: run deploy/local/install-system.sh first"
  mkdir -p "$BIN_DIR"
  log "building influxd $CW_INFLUX_VERSION from the Go module proxy (first time only, ~2 min)"
  if ! CGO_ENABLED=0 GOBIN="$BIN_DIR" GOFLAGS=-mod=mod \
      go install "github.com/influxdata/influxdb/cmd/influxd@$CW_INFLUX_VERSION"; then
    # Old dependencies can trip newer Go linkers' checks; this is their documented escape hatch.
    log "plain build failed; retrying with -ldflags=-checklinkname=0"
    CGO_ENABLED=0 GOBIN="$BIN_DIR" go install -ldflags=-checklinkname=0 \
      "github.com/influxdata/influxdb/cmd/influxd@$CW_INFLUX_VERSION" \
      || die "could not build influxd $CW_INFLUX_VERSION with $(go version)"
  fi
}

write_config() {
  mkdir -p "$DIR/meta" "$DIR/data" "$DIR/wal"
  cat > "$CONFIG" <<TOML
reporting-disabled = true
bind-address = "127.0.0.1:$CW_INFLUX_RPC_PORT"
[meta]
  dir = "$DIR/meta"
[data]
  dir = "$DIR/data"
  wal-dir = "$DIR/wal"
  query-log-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:$CW_INFLUX_PORT"
  auth-enabled = ${CW_INFLUX_AUTH_ENABLED:-false}
  log-enabled = false
  flux-enabled = true
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
TOML
}

start() {
  install
  already_serving InfluxDB "$PIDFILE" CW_INFLUX_PORT http_ok "$URL/ping" && return 0
  write_config
  log "starting InfluxDB $CW_INFLUX_VERSION on $URL"
  start_daemon "$PIDFILE" "$DIR/influxd.log" "$BIN" run -config "$CONFIG"
  wait_until 60 "InfluxDB" http_ok "$URL/ping" \
    || die "InfluxDB did not become healthy in 60 s: see $DIR/influxd.log"
}

status() {
  if pid_alive "$PIDFILE" && http_ok "$URL/ping"; then
    echo "influxdb: up ($URL, $CW_INFLUX_VERSION, Flux enabled)"
  else
    echo "influxdb: DOWN (start with: deploy/local/stack.sh up)"
    return 1
  fi
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop_pid "$PIDFILE" "InfluxDB" ;;
  status) status ;;
  *) die "usage: $0 install|start|stop|status" ;;
esac
