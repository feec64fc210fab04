#!/usr/bin/env bash
# Kafka 4.x, single KRaft node (broker + controller), assembled from Maven Central.
# Usage: kafka.sh install|start|stop|status
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HOME_DIR="$CW_CACHE/kafka-$CW_KAFKA_VERSION"
LIBS="$HOME_DIR/libs"
DIR="$CW_STATE/kafka"
PIDFILE="$DIR/kafka.pid"
CONFIG="$DIR/server.properties"

install() {
  if [[ -f "$LIBS/kafka_2.13-$CW_KAFKA_VERSION.jar" && -f "$HOME_DIR/.complete" ]]; then
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found: run deploy/local/install-system.sh first"
  command -v java >/dev/null || die "java not found: run deploy/local/install-system.sh first"
  log "resolving Kafka $CW_KAFKA_VERSION from Maven Central into $LIBS"
  rm -rf "$LIBS"
  mvn -q -B -f "$CW_REPO/deploy/local/kafka/pom.xml" \
    -Dkafka.version="$CW_KAFKA_VERSION" \
    org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
    -DoutputDirectory="$LIBS" -DincludeScope=runtime \
    || die "Maven could not resolve org.apache.kafka:kafka_2.13:$CW_KAFKA_VERSION"
  touch "$HOME_DIR/.complete"
}

write_config() {
  mkdir -p "$DIR/data"
  cat > "$CONFIG" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$CW_KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$CW_KAFKA_PORT,CONTROLLER://127.0.0.1:$CW_KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$CW_KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DIR/data
num.partitions=6
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# Small segments keep a local/test broker's disk use modest.
log.segment.bytes=67108864
log.retention.hours=48
PROPS
}

healthy() {
  python3 - "$CW_KAFKA_PORT" <<'PY'
import sys
from kafka import KafkaAdminClient
admin = KafkaAdminClient(bootstrap_servers=f"127.0.0.1:{sys.argv[1]}", request_timeout_ms=3000)
admin.list_topics()
admin.close()
PY
}

start() {
  install
  already_serving Kafka "$PIDFILE" CW_KAFKA_PORT healthy && return 0
  write_config
  if [[ ! -f "$DIR/data/meta.properties" ]]; then
    local cluster_id
    cluster_id="$(java -cp "$LIBS/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)"
    java -cp "$LIBS/*" kafka.tools.StorageTool format -t "$cluster_id" -c "$CONFIG" --standalone \
      >>"$DIR/format.log" 2>&1 || die "Kafka storage format failed: see $DIR/format.log"
  fi
  log "starting Kafka $CW_KAFKA_VERSION on 127.0.0.1:$CW_KAFKA_PORT"
  start_daemon "$PIDFILE" "$DIR/kafka.log" \
    java "-Xms256m" "-Xmx$CW_KAFKA_HEAP" -XX:+UseG1GC -Djava.awt.headless=true \
    -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
    -cp "$LIBS/*" kafka.Kafka "$CONFIG"
  wait_until 120 "Kafka" healthy || die "Kafka did not become healthy in 120 s: see $DIR/kafka.log"
}

status() {
  if pid_alive "$PIDFILE" && healthy >/dev/null 2>&1; then
    echo "kafka: up (127.0.0.1:$CW_KAFKA_PORT, version $CW_KAFKA_VERSION)"
  else
    echo "kafka: DOWN (start with: deploy/local/stack.sh up)"
    return 1
  fi
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop_pid "$PIDFILE" "Kafka" ;;
  status) status ;;
  *) die "usage: $0 install|start|stop|status" ;;
esac
