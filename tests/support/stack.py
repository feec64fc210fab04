"""Talking to the real local stack from tests: ports, worker processes, queries, polling."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from pipeline.config.settings import Settings, TopicNames
from pipeline.ops import localstack
from pipeline.ops.influx_admin import drop_database, ensure_database
from pipeline.ops.kafka_security import kafka_python_options
from pipeline.ops.ports import free_port as free_port
from pipeline.ops.topics import ensure_topic_layout

T = TypeVar("T")


@contextmanager
def fresh_namespace(stack: Settings, **overrides: Any) -> Iterator[Settings]:
    """``stack`` with a fresh topic prefix (topics created), consumer group, InfluxDB bucket
    (created), metrics port, data directory and command key; topics and bucket are deleted
    at exit. ``overrides`` replace fields of the result."""
    run = f"t{uuid.uuid4().hex[:10]}"
    fresh = replace(
        stack,
        topics=TopicNames(f"{run}."),
        app_id=f"{run}-worker",
        influx_bucket=f"{run}/autogen",
        metrics_port=free_port(),
        silence_check_interval=0.5,
        influx_flush_interval=0.5,
        indicator_interval=1.0,
        data_dir=str(localstack.state_dir() / "test-workers" / run),
        command_key=uuid.uuid4().hex,
    )
    fresh = replace(fresh, **overrides)
    ensure_topic_layout(fresh.kafka_bootstrap, fresh.topics, partitions=fresh.partitions)
    ensure_database(fresh.influx_url, fresh.influx_bucket)
    try:
        yield fresh
    finally:
        drop_database(fresh.influx_url, fresh.influx_bucket)
        admin = KafkaAdminClient(bootstrap_servers=fresh.kafka_bootstrap)
        try:
            admin.delete_topics([t for t in admin.list_topics() if t.startswith(run)])
        finally:
            admin.close()


def eventually(
    probe: Callable[[], T | None], *, timeout: float = 60.0, every: float = 0.5, what: str = ""
) -> T:
    """Poll ``probe`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(
        f"timed out after {timeout:.0f} s waiting for {what or probe!r}; last={last!r}"
    )


def worker_env(settings: Settings) -> dict[str, str]:
    return {
        "CW_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "CW_TOPIC_PREFIX": settings.topics.prefix,
        "CW_APP_ID": settings.app_id,
        "CW_METRICS_PORT": str(settings.metrics_port),
        "CW_INFLUX_URL": settings.influx_url,
        "CW_INFLUX_BUCKET": settings.influx_bucket,
        "CW_SILENCE_CHECK_S": str(settings.silence_check_interval),
        "CW_INFLUX_FLUSH_S": str(settings.influx_flush_interval),
        "CW_WORKER_DATA_DIR": settings.data_dir,
        "CW_INDICATOR_INTERVAL_S": str(settings.indicator_interval),
        "CW_CORRELATION_WINDOW_S": str(settings.correlation_window),
        "CW_MAINTENANCE_FILE": settings.maintenance_file or "",
        "CW_COMMAND_KEY": settings.command_key or "",
        "CW_BATCH_MAX": str(settings.batch_max),
        "CW_SESSION_TIMEOUT_S": str(settings.session_timeout),
        "CW_COMMIT_INTERVAL_S": str(settings.commit_interval),
        "CW_KAFKA_SECURITY_PROTOCOL": settings.kafka_security_protocol,
        "CW_KAFKA_SASL_MECHANISM": settings.kafka_sasl_mechanism,
        "CW_KAFKA_USERNAME": settings.kafka_username or "",
        "CW_KAFKA_PASSWORD_FILE": settings.kafka_password_file or "",
        "CW_KAFKA_CA_FILE": settings.kafka_ca_file or "",
        **(
            {"CW_INFLUX_TOKEN_FILE": settings.influx_token_file}
            if settings.influx_token_file
            else {"CW_INFLUX_TOKEN": settings.influx_token}
        ),
        "CW_REPLICATION_FACTOR": str(settings.replication_factor),
        "CW_MIN_INSYNC_REPLICAS": str(settings.min_insync_replicas),
        "CW_PROCESSING_GUARANTEE": settings.processing_guarantee,
    }


@dataclass
class WorkerProcess:
    """A real ``continuity worker`` subprocess, scraped by the real Prometheus."""

    settings: Settings
    log_path: Path
    name: str
    proc: subprocess.Popen[bytes] | None = None

    def start(self, *, timeout: float = 90.0) -> WorkerProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", "worker"],
            env={**os.environ, **worker_env(self.settings)},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        localstack.register_scrape_target(
            self.name, f"127.0.0.1:{self.settings.metrics_port}", {"test_run": self.settings.app_id}
        )
        start_mark = self.log_path.stat().st_size
        eventually(
            lambda: self._ready_since(start_mark),
            timeout=timeout,
            what=f"worker {self.name} to be ready (log: {self.log_path})",
        )
        return self

    def _ready_since(self, mark: int) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"worker exited with {self.proc.returncode}; log: {self.log_path}")
        with self.log_path.open("rb") as log:
            log.seek(mark)
            return b"[^Worker]: Ready" in log.read()

    def metrics_text(self) -> str:
        url = f"http://127.0.0.1:{self.settings.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text: str = response.read().decode()
            return text

    def kill(self) -> None:
        """``kill -9``: no shutdown hook runs, nothing is flushed."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        localstack.unregister_scrape_target(self.name)


def produce(settings: Settings, records: Sequence[tuple[bytes | None, bytes]]) -> None:
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", **kafka_python_options(settings)
    )
    try:
        for key, value in records:
            producer.send(settings.topics.observations, key=key, value=value)
        producer.flush(timeout=30)
    finally:
        producer.close()


def read_topic(
    settings: Settings, topic: str, *, at_least: int, timeout: float = 60.0
) -> list[Any]:
    """Read a topic from the beginning until ``at_least`` records arrived; JSON-decoded values."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        enable_auto_commit=False,
        **kafka_python_options(settings),
        isolation_level="read_committed",  # as every reader of the worker's outputs
    )
    try:
        partitions = eventually(
            lambda: consumer.partitions_for_topic(topic), timeout=timeout, what=f"topic {topic}"
        )
        assignment = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(assignment)
        consumer.seek_to_beginning(*assignment)
        values: list[Any] = []
        deadline = time.monotonic() + timeout
        while len(values) < at_least and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                values.extend(json.loads(record.value) for record in batch)
        return values
    finally:
        consumer.close()


def read_to_end(settings: Settings, topic: str) -> list[Any]:
    """Every record now in ``topic`` (all partitions, up to their end offsets), JSON-decoded."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        enable_auto_commit=False,
        **kafka_python_options(settings),
        isolation_level="read_committed",  # as every reader of the worker's outputs
    )
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        assignment = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(assignment)
        consumer.seek_to_beginning(*assignment)
        ends = consumer.end_offsets(assignment)
        values: list[Any] = []
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            for batch in consumer.poll(timeout_ms=500).values():
                values.extend(json.loads(record.value) for record in batch)
        return values
    finally:
        consumer.close()


def prometheus_query(settings: Settings, expr: str) -> list[dict[str, Any]]:
    url = f"{settings.prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def metric_sum(text: str, name: str, **labels: str) -> float:
    """Sum of the samples called ``name`` whose labels include ``labels``, from exposition text."""
    from prometheus_client.parser import text_string_to_metric_families

    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )
