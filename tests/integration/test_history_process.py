"""The history writer's process never outlives its worker, even one killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from pipeline.config.settings import Settings
from tests.support.stack import eventually, worker_env

pytestmark = pytest.mark.integration

#: A stand-in for the worker: starts the writer's process, prints its pid, then waits.
PARENT = """
import os, time
from prometheus_client import CollectorRegistry
from pipeline.config.settings import Settings
from pipeline.metrics.worker import WorkerMetrics
from pipeline.sinks.history_process import HistoryProcess
history = HistoryProcess(Settings.from_env(os.environ), WorkerMetrics(CollectorRegistry()))
history.start()
print("history-pid", history.pid, flush=True)
time.sleep(600)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is gone too
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_writer_process_closes_when_its_worker_is_killed(settings: Settings) -> None:
    env = {**os.environ, **worker_env(settings)}
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        line = ""
        while not line.startswith("history-pid "):  # (structlog writes to stdout too)
            line = parent.stdout.readline()
            assert line, "the parent ended before starting the writer"
        child = int(line.split()[1])
        assert alive(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        # It checks for its worker every PARENT_CHECK_S, then closes its consumer.
        eventually(lambda: not alive(child), timeout=20.0, what="history process gone")
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(timeout=10)
        if parent.stdout is not None:
            parent.stdout.close()
