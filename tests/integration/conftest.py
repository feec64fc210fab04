"""Session fixtures: the real local stack; a fresh namespace (topics, group, bucket) per test."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from kafka import KafkaAdminClient

from pipeline.config.settings import Settings, TopicNames
from pipeline.ops.health import check_stack
from pipeline.ops.influx_admin import drop_database, ensure_database
from pipeline.ops.localstack import DEPLOY, state_dir
from pipeline.ops.topics import ensure_topic_layout
from tests.support.stack import WorkerProcess, free_port


@pytest.fixture(scope="session")
def stack() -> Settings:
    """The local stack's settings; starts Kafka, Prometheus and InfluxDB when they are not up."""
    settings = Settings.from_env(os.environ)
    if not all(health.ok for health in check_stack(settings)):
        subprocess.run(["bash", str(DEPLOY / "stack.sh"), "up"], check=True)
    down = [h for h in check_stack(settings) if not h.ok]
    assert not down, f"stack not healthy: {down}"
    return settings


@pytest.fixture
def settings(stack: Settings) -> Iterator[Settings]:
    """Settings with a fresh topic prefix, consumer group, InfluxDB bucket and metrics port."""
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
        data_dir=str(state_dir() / "test-workers" / run),
        command_key=uuid.uuid4().hex,
    )
    ensure_topic_layout(fresh.kafka_bootstrap, fresh.topics, partitions=fresh.partitions)
    ensure_database(fresh.influx_url, fresh.influx_bucket)
    yield fresh
    drop_database(fresh.influx_url, fresh.influx_bucket)
    admin = KafkaAdminClient(bootstrap_servers=fresh.kafka_bootstrap)
    try:
        mine = [t for t in admin.list_topics() if t.startswith(run)]
        admin.delete_topics(mine)
    finally:
        admin.close()


@pytest.fixture
def start_worker(settings: Settings) -> Iterator[Callable[..., WorkerProcess]]:
    """Start real worker processes for this test; all are stopped at teardown."""
    started: list[WorkerProcess] = []

    def start(**overrides: object) -> WorkerProcess:
        worker_settings = replace(settings, **overrides)  # type: ignore[arg-type]
        name = f"{settings.app_id}-{len(started)}"
        log = Path(settings.data_dir) / f"{name}.log"
        worker = WorkerProcess(worker_settings, log, name)
        started.append(worker)
        return worker.start()

    yield start
    for worker in started:
        worker.stop()
