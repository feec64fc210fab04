"""Health that means progress: per-partition offsets, /healthz, a quick SIGTERM."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable

import pytest
from prometheus_client import CollectorRegistry

from pipeline.config.settings import Settings
from pipeline.core.timeutil import format_rfc3339
from pipeline.worker.http import serve_metrics_and_health
from pipeline.worker.progress import PartitionProgress, ProgressCollector
from tests.support.observations import wire
from tests.support.stack import WorkerProcess, eventually, free_port, metric_sum, produce

pytestmark = pytest.mark.integration


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


def test_healthz_fails_for_a_stalled_partition_over_real_http() -> None:
    now = [0.0]
    progress = PartitionProgress(lambda: now[0], stall_after=30.0, max_backlog=100)
    registry = CollectorRegistry()
    ProgressCollector(progress, registry)
    port = free_port()
    server = serve_metrics_and_health("127.0.0.1", port, registry, progress)
    try:
        progress.observe("obs", 3, end=50, committed=10)
        assert _get(f"http://127.0.0.1:{port}/healthz")[0] == 200
        now[0] = 31.0  # records waiting, nothing processed for 31 s
        status, body = _get(f"http://127.0.0.1:{port}/healthz")
        assert status == 503
        assert json.loads(body)["stalled"] == [{"topic": "obs", "partition": 3, "backlog": 40}]
        text = _get(f"http://127.0.0.1:{port}/metrics")[1].decode()
        assert metric_sum(text, "continuity_partition_stalled", partition="3") == 1
        assert metric_sum(text, "continuity_partition_offset", kind="end") == 50
    finally:
        server.shutdown()
        server.server_close()


def test_worker_reports_progress_per_partition_and_stops_quickly(
    settings: Settings, start_worker: Callable[..., WorkerProcess]
) -> None:
    worker = start_worker()
    at = format_rfc3339(time.time())
    produce(
        settings,
        [(b"k", wire(service_id=f"{settings.app_id}.s{i}", observed_at=at)) for i in range(20)],
    )

    def caught_up() -> str | None:
        text = worker.metrics_text()
        topic = settings.topics.observations
        end = metric_sum(text, "continuity_partition_offset", topic=topic, kind="end")
        done = metric_sum(text, "continuity_partition_offset", topic=topic, kind="processed")
        return text if end == done == 20 else None

    eventually(caught_up, what="processed offsets to reach the end offsets")
    base = f"http://127.0.0.1:{settings.metrics_port}"
    assert _get(f"{base}/healthz")[0] == 200
    started = time.monotonic()
    worker.stop()
    assert worker.proc is not None
    assert worker.proc.returncode is not None
    assert time.monotonic() - started < 15, "SIGTERM must stop a healthy worker within seconds"
