"""Session fixtures: the real local stack; a fresh namespace (topics, group, bucket) per test."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from pipeline.config.settings import Settings
from pipeline.ops.health import check_stack
from pipeline.ops.localstack import DEPLOY
from tests.support.stack import WorkerProcess, fresh_namespace


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
    with fresh_namespace(stack) as fresh:
        yield fresh


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
