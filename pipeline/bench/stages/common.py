"""What every stage shares: the run (namespace, workers, cleanup), figures, waiting."""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from pipeline.bench.completion import Completion, wait_through
from pipeline.bench.kafka_io import (
    GroupProgress,
    delete_run,
)
from pipeline.bench.workers import BenchWorker, free_port
from pipeline.config.settings import Settings, TopicNames
from pipeline.core.progress import Progress
from pipeline.ops.influx_admin import drop_database, ensure_database
from pipeline.ops.kafka_security import KafkaSecurity

log = structlog.get_logger(__name__)

Records = list[tuple[bytes, bytes]]

#: Services get this expected interval in throughput and state runs, so evidence produced a
#: few minutes before a worker reads it does not go silent in the middle of the measurement.
QUIET_INTERVAL_S = 86_400.0
#: Observations per flush of the processor stage: the worker's default batch size.
PROCESSOR_BATCH = 2_000


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of a non-empty sequence.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 50), percentile([1.0, 2.0, 3.0, 4.0], 99)
    (2.0, 4.0)
    """
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def summarise(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"count": 0.0}
    return {
        "count": float(len(values)),
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "max": max(values),
        "mean": statistics.fmean(values),
    }


@dataclass
class BenchRun:
    """One invocation: a unique namespace (topics, groups, database) and its workers."""

    base: Settings
    progress: Progress
    workdir: Path
    run: str = field(default_factory=lambda: f"bench-{uuid.uuid4().hex[:10]}")
    #: Longest a worker stage may wait for its group to get through the topic.
    stage_timeout: float = 900.0
    #: Seconds without committed progress that count as a commit stall (see completion).
    stall_after: float = 60.0
    workers: list[BenchWorker] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)

    @property
    def influx_bucket(self) -> str:
        return f"{self.run.replace('-', '_')}/autogen"

    @property
    def topics(self) -> TopicNames:
        """The main (pre-filled) namespace."""
        return TopicNames(f"{self.run}.")

    @property
    def security(self) -> KafkaSecurity:
        """The bench's own Kafka identity (the Kafka security settings; workers inherit them)."""
        return KafkaSecurity.from_settings(self.base)

    def namespace(self, name: str) -> TopicNames:
        return TopicNames(f"{self.run}-{name}.")

    def wait_through(
        self,
        group: GroupProgress,
        workers: Sequence[BenchWorker],
        target: int,
        *,
        total: int,
        deadline: float,
    ) -> Completion:
        """:func:`~pipeline.bench.completion.wait_through` with this run's progress display
        and ``stall_after``."""
        return wait_through(
            group,
            workers,
            target,
            total=total,
            deadline=deadline,
            progress=self.progress,
            stall_after=self.stall_after,
        )

    def prepare(self) -> None:
        ensure_database(self.base.influx_url, self.influx_bucket, token=self.base.influx_token)

    def worker(
        self,
        name: str,
        topics: TopicNames,
        app_id: str,
        *,
        default_interval: float,
        extra_env: dict[str, str] | None = None,
    ) -> BenchWorker:
        port = free_port()
        if app_id not in self.groups:
            self.groups.append(app_id)
        env = {
            "CW_KAFKA_BOOTSTRAP": self.base.kafka_bootstrap,
            "CW_TOPIC_PREFIX": topics.prefix,
            "CW_APP_ID": app_id,
            "CW_PARTITIONS": str(self.base.partitions),
            "CW_METRICS_PORT": str(port),
            "CW_INFLUX_URL": self.base.influx_url,
            "CW_INFLUX_BUCKET": self.influx_bucket,
            "CW_WORKER_DATA_DIR": str(self.workdir / name),
            "CW_DEFAULT_INTERVAL_S": str(default_interval),
            "CW_SILENCE_CHECK_S": str(self.base.silence_check_interval),
            "CW_INFLUX_FLUSH_S": str(self.base.influx_flush_interval),
            **(extra_env or {}),
        }
        worker = BenchWorker(name, env, self.workdir / f"{name}.log", port)
        self.workers.append(worker)
        return worker

    def cleanup(self, *, keep_topics: bool = False) -> None:
        for worker in self.workers:
            try:
                worker.stop()
            except Exception as exc:
                log.warning("bench_worker_stop_failed", worker=worker.name, error=repr(exc))
        if keep_topics:
            return
        try:
            deleted = delete_run(
                self.base.kafka_bootstrap, self.run, self.groups, security=self.security
            )
            log.info("bench_topics_deleted", count=len(deleted), run=self.run)
        except Exception as exc:
            log.warning("bench_topic_cleanup_failed", run=self.run, error=repr(exc))
        try:
            drop_database(self.base.influx_url, self.influx_bucket, token=self.base.influx_token)
        except Exception as exc:
            log.warning("bench_influx_cleanup_failed", bucket=self.influx_bucket, error=repr(exc))


def _wait(probe: Callable[[], bool], timeout: float, what: str, *, fail: bool = True) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return True
        time.sleep(0.1)
    if fail:
        raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
    log.warning("bench_wait_timed_out", what=what, timeout=timeout)
    return False
