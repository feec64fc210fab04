#!/usr/bin/env bash
# The whole local stack: Kafka, Prometheus, InfluxDB. Idempotent.
# Usage: stack.sh install|up|down|status
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
HERE="$(dirname "${BASH_SOURCE[0]}")"
SERVERS=(kafka prometheus influxdb)

case "${1:-}" in
  install) for s in "${SERVERS[@]}"; do "$HERE/$s.sh" install; done ;;
  up) for s in "${SERVERS[@]}"; do "$HERE/$s.sh" start; done ;;
  down)
    # Reverse order: consumers of Kafka go before Kafka.
    for ((i=${#SERVERS[@]}-1; i>=0; i--)); do "$HERE/${SERVERS[$i]}.sh" stop; done ;;
  status)
    rc=0
    for s in "${SERVERS[@]}"; do "$HERE/$s.sh" status || rc=1; done
    exit "$rc" ;;
  *) die "usage: $0 install|up|down|status" ;;
esac
