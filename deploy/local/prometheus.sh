#!/usr/bin/env bash
# Prometheus from Debian's package, run with our own config on a non-default port.
# Scrape targets come from file_sd files in $CW_STATE/prometheus/targets/*.json, which the
# worker launcher and the tests write, so nothing needs a reload when a worker appears.
# Usage: prometheus.sh install|start|stop|status
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DIR="$CW_STATE/prometheus"
PIDFILE="$DIR/prometheus.pid"
CONFIG="$DIR/prometheus.yml"
URL="http://127.0.0.1:$CW_PROMETHEUS_PORT"

install() {
  command -v prometheus >/dev/null \
    || die "prometheus not found: run deploy/local/install-system.sh (Debian package 'prometheus')"
}

write_config() {
  mkdir -p "$DIR/data" "$DIR/targets"
  cat > "$CONFIG" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
# The project's alerting rules (availability SLO burn rates, pipeline health, worker progress).
rule_files: ["$CW_REPO/deploy/prometheus/rules/*.yml"]
scrape_configs:
  - job_name: continuity-workers
    file_sd_configs:
      - files: ["$DIR/targets/*.json"]
        refresh_interval: 2s
YAML
  promtool check config "$CONFIG" >/dev/null || die "generated Prometheus config is invalid: $CONFIG"
}

start() {
  install
  already_serving Prometheus "$PIDFILE" CW_PROMETHEUS_PORT http_ok "$URL/-/ready" && return 0
  write_config
  log "starting Prometheus on $URL"
  start_daemon "$PIDFILE" "$DIR/prometheus.log" \
    prometheus --config.file="$CONFIG" --storage.tsdb.path="$DIR/data" \
    --web.listen-address="127.0.0.1:$CW_PROMETHEUS_PORT" --web.enable-lifecycle \
    --storage.tsdb.retention.time=7d
  wait_until 60 "Prometheus" http_ok "$URL/-/ready" \
    || die "Prometheus did not become ready in 60 s: see $DIR/prometheus.log"
}

status() {
  if pid_alive "$PIDFILE" && http_ok "$URL/-/ready"; then
    echo "prometheus: up ($URL, $(prometheus --version 2>&1 | head -n 1 | awk '{print $3}'))"
  else
    echo "prometheus: DOWN (start with: deploy/local/stack.sh up)"
    return 1
  fi
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop_pid "$PIDFILE" "Prometheus" ;;
  status) status ;;
  *) die "usage: $0 install|start|stop|status" ;;
esac
