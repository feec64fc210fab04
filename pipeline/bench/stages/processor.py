"""Stage 3b: the worker's processor alone, in process (throughput and cProfile)."""

from __future__ import annotations

import cProfile
import gc
import pstats
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from influxdb_client.client.influxdb_client import InfluxDBClient
from prometheus_client import CollectorRegistry

from pipeline.bench.stages.common import (
    PROCESSOR_BATCH,
    QUIET_INTERVAL_S,
    Records,
)
from pipeline.config.settings import Settings
from pipeline.core.progress import Progress
from pipeline.metrics.worker import WorkerMetrics
from pipeline.sinks.influx import InfluxSink
from pipeline.worker.live_states import LiveStates
from pipeline.worker.processor import ObservationProcessor
from pipeline.worker.wiring import build_processor

# --- 3b. the processor alone, in process ---------------------------------------------------


def make_processor(
    client: InfluxDBClient | None = None, sink_capacity: int = 1
) -> ObservationProcessor:
    """The worker's processor with its metrics and, given a client, its InfluxDB sink
    (never flushed here); services get the quiet bench interval."""
    metrics = WorkerMetrics(CollectorRegistry())
    sink = (
        InfluxSink(
            client, bucket="bench/autogen", org="-", metrics=metrics, max_buffer=sink_capacity
        )
        if client is not None
        else None
    )
    settings = replace(Settings(), default_interval=QUIET_INTERVAL_S)
    return build_processor(settings, metrics, sink=sink)


def processor_only(
    records: Records,
    influx_url: str,
    *,
    progress: Progress | None = None,
    profile: cProfile.Profile | None = None,
) -> dict[str, Any]:
    """``ObservationProcessor.handle_batch`` over the payloads with a plain dict store."""
    client = InfluxDBClient(url=influx_url, token="bench", org="-")
    processor = make_processor(client, len(records) + 1)
    store: dict[str, Any] = {}
    live = LiveStates(store, processor.monitoring)
    statuses = 0
    rejected = 0
    try:
        gc.collect()
        started = time.perf_counter()
        cpu_started = time.process_time()
        if profile is not None:
            profile.enable()
        # as the worker's consume loop: one handle_batch and one flush per batch
        for first in range(0, len(records), PROCESSOR_BATCH):
            batch = [
                (value, "bench", 0, first + i)
                for i, (_key, value) in enumerate(records[first : first + PROCESSOR_BATCH])
            ]
            out = processor.handle_batch(batch, live)
            processor.flush(live)
            statuses += len(out.status)
            rejected += len(out.deadletter)
            if progress is not None and first % 20_000 < PROCESSOR_BATCH:
                progress.update(first, len(records))
        if profile is not None:
            profile.disable()
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
    finally:
        client.close()  # type: ignore[no-untyped-call]
    if progress is not None:
        progress.update(len(records), len(records), force=True)
    return {
        "observations": len(records),
        "seconds": elapsed,
        "obs_per_s": len(records) / elapsed,
        "cpu_us_per_obs": 1e6 * cpu / max(1, len(records)),
        "obs_per_cpu_s": len(records) / cpu if cpu else None,
        "status_changes": statuses,
        "rejected": rejected,
        "services": len(store),
    }


def profile_processor(
    records: Records, influx_url: str, *, top: int = 20, root: Path | None = None
) -> dict[str, Any]:
    """cProfile of the processor path; the top functions by own time and by cumulative time."""
    profiler = cProfile.Profile()
    result = processor_only(records, influx_url, profile=profiler)
    stats = pstats.Stats(profiler)
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for (_cc, _nc, tt, _ct, _callers) in raw.values())
    base = str(root or Path.cwd())

    def name(key: tuple[str, int, str]) -> str:
        filename, line, func = key
        if filename.startswith(base):
            filename = filename[len(base) + 1 :]
        elif "site-packages/" in filename:
            filename = filename.split("site-packages/", 1)[1]
        elif "/lib/python" in filename:
            filename = "stdlib:" + filename.rsplit("/", 1)[-1]
        return f"{filename}:{line}({func})" if line else func

    def rows(index: int) -> list[dict[str, Any]]:
        ordered = sorted(raw.items(), key=lambda item: item[1][index], reverse=True)[:top]
        return [
            {
                "function": name(key),
                "calls": nc,
                "tottime_s": tt,
                "cumtime_s": ct,
                "own_pct": 100.0 * tt / total if total else 0.0,
                "us_per_obs_cum": 1e6 * ct / max(1, len(records)),
            }
            for key, (_cc, nc, tt, ct, _callers) in ordered
        ]

    return {
        "observations": len(records),
        "profiled_obs_per_s": result["obs_per_s"],
        "profiled_seconds": total,
        "by_own_time": rows(2),
        "by_cumulative_time": rows(3),
    }
