"""The stack scripts and ``continuity status`` against the real servers."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pipeline.config.settings import Settings
from pipeline.ops.localstack import DEPLOY
from tests.support.stack import free_port

pytestmark = pytest.mark.integration


def test_second_up_is_a_no_op(stack: Settings) -> None:
    result = subprocess.run(
        ["bash", str(DEPLOY / "stack.sh"), "up"], capture_output=True, text=True, check=True
    )
    for server in ("Kafka", "Prometheus", "InfluxDB"):
        assert f"{server} already running" in result.stderr


def test_status_names_the_server_that_is_down(stack: Settings) -> None:
    env = {**os.environ, "CW_INFLUX_PORT": str(free_port())}
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "status"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 1
    lines = {
        line.split()[0]: line.split()[1] for line in result.stdout.splitlines() if line.strip()
    }
    assert (lines["kafka"], lines["prometheus"], lines["influxdb"]) == ("up", "up", "DOWN")


def test_status_is_zero_when_all_are_up(stack: Settings) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "status"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout
