"""Stage 2: the consumer ceiling: how fast a bare consumer reads the same topic."""

from __future__ import annotations

from pipeline.bench.kafka_io import (
    consume_ceiling,
)
from pipeline.bench.stages.common import (
    BenchRun,
)

# --- 2. ceiling --------------------------------------------------------------------------


def ceiling(bench: BenchRun, expected: int) -> dict[str, float]:
    return consume_ceiling(
        bench.base.kafka_bootstrap,
        bench.topics.observations,
        expected,
        partitions=bench.base.partitions,
        security=bench.security,
        progress=bench.progress,
    )
