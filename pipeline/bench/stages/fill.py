"""Stage 1: generate the observations and fill the run's topic (the producer baseline)."""

from __future__ import annotations

import time

from pipeline.bench.data import ObservationMix
from pipeline.bench.kafka_io import (
    produce_bare,
)
from pipeline.bench.stages.common import (
    BenchRun,
    Records,
)
from pipeline.ops.topics import ensure_topics

# --- 1. fill + producer baseline ---------------------------------------------------------


def generate(observations: int, services: int, run: str) -> tuple[Records, dict[str, float]]:
    """Build the payloads (Observation → JSON), timed: the serialisation side of a producer."""
    mix = ObservationMix(services)
    started = time.perf_counter()
    records = mix.payloads(observations, run=run, start=time.time() - 600.0, span=600.0)
    elapsed = time.perf_counter() - started
    return records, {
        "observations": float(observations),
        "services": float(services),
        "seconds": elapsed,
        "obs_per_s": observations / elapsed,
        "mean_bytes": sum(len(v) for _, v in records) / max(1, len(records)),
    }


def fill(bench: BenchRun, records: Records) -> dict[str, float]:
    topic = bench.topics.observations
    security = bench.security
    ensure_topics(
        bench.base.kafka_bootstrap, [topic], partitions=bench.base.partitions, security=security
    )
    result = produce_bare(
        bench.base.kafka_bootstrap, topic, records, progress=bench.progress, security=security
    )
    result["partitions"] = float(bench.base.partitions)
    return result
