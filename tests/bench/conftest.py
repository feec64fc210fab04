"""Fixtures for the benchmark smoke run: the real local stack, a scratch result file."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from pipeline.config.settings import Settings
from pipeline.ops.health import check_stack
from pipeline.ops.localstack import DEPLOY


@pytest.fixture(scope="session")
def bench_stack() -> Settings:
    """The local stack's settings; starts Kafka, Prometheus and InfluxDB when they are not up."""
    settings = Settings.from_env(os.environ)
    if not all(health.ok for health in check_stack(settings)):
        subprocess.run(["bash", str(DEPLOY / "stack.sh"), "up"], check=True, timeout=900)
    down = [h for h in check_stack(settings) if not h.ok]
    assert not down, f"stack not healthy: {down}"
    return settings


@pytest.fixture
def bench_output(tmp_path: Path) -> Path:
    """Where the smoke run writes its JSON result (never into bench/results/)."""
    return tmp_path / "bench-result.json"
