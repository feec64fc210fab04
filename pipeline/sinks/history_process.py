"""The history writer (:class:`~pipeline.sinks.history.TopicHistory`) in a process of its own.

The writer is a Kafka consumer of its own group (the status and incidents topics) and an
InfluxDB client, both Python: as a thread of the worker it held the worker's interpreter
lock for milliseconds at a time (decoding a fetch, building and writing lines) while the
worker's event loop waited. On the latency stage's live mix (7 700 obs/s) evidence → status
took p50 0.58 to 0.73 s and p99 1.11 to 1.72 s with the thread and 0.34 to 0.38 s and 0.89 to 0.95 s
without it (docs/benchmarks.md, "Round 7"). The worker therefore starts the writer as a child
process (``spawn``: nothing of the parent's threads or sockets is inherited):

- the child builds its own InfluxDB client and consumer from the worker's settings and runs
  the writer until told to stop, or until the worker is gone (a ``kill -9`` of the worker
  leaves no orphan behind: the child notices its parent changed and closes);
- the points it writes, retries and has refused are added up in shared memory, and the worker
  adds them to its ``continuity_sink_points_total`` (:meth:`HistoryProcess.report`), so the
  one ``/metrics`` of the worker still shows them.

What the writer guarantees does not change: it commits its offsets only after InfluxDB took
the points, so a crash of either process replays from there and duplicates nothing.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from multiprocessing.sharedctypes import Synchronized
from typing import Any

import structlog
from influxdb_client.client.influxdb_client import InfluxDBClient

from pipeline.config.settings import Settings
from pipeline.metrics.worker import WorkerMetrics
from pipeline.sinks.influx import SINK_NAME

log = structlog.get_logger(__name__)

#: What the writer counts, in the order of the shared counters.
OUTCOMES = ("written", "retried", "rejected")

#: How often the child checks that its worker is still there.
PARENT_CHECK_S = 0.5

#: The writer's scheduling priority below the worker's (``nice``): history may lag a little
#: when the machine is busy, the stream of status changes may not.
NICENESS = 10

#: InfluxDB request timeout of the child's client (as the worker's own client).
INFLUX_TIMEOUT_MS = 10_000


class HistoryProcess:
    """Starts, watches and stops the history writer's process for one worker."""

    def __init__(self, settings: Settings, metrics: WorkerMetrics) -> None:
        self._settings = settings
        self._metrics = metrics
        self._context = multiprocessing.get_context("spawn")
        self._stop = self._context.Event()
        self._counts: list[Synchronized[int]] = [
            self._context.Value("q", 0) for _outcome in OUTCOMES
        ]
        self._reported = [0] * len(OUTCOMES)
        self._process: Any = None

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        level = logging.getLevelName(logging.getLogger().getEffectiveLevel())
        self._process = self._context.Process(
            target=_serve,
            args=(self._settings, self._stop, self._counts, os.getpid(), level),
            name="influx-history",
            daemon=True,  # also ended by multiprocessing when the worker exits normally
        )
        self._process.start()
        log.info("history_process_started", pid=self._process.pid)

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the writer to finish its batch and close; kill it after ``timeout``."""
        process = self._process
        if process is None:
            return
        self._stop.set()
        process.join(timeout)
        if process.is_alive():
            log.warning("history_process_killed", pid=process.pid, after_s=timeout)
            process.kill()
            process.join(timeout)
        self.report()

    def report(self) -> None:
        """Add what the writer counted since the last report to the worker's metrics."""
        for index, outcome in enumerate(OUTCOMES):
            total = self._counts[index].value
            added, self._reported[index] = total - self._reported[index], total
            if added:
                self._metrics.child(self._metrics.sink_points, SINK_NAME, outcome).inc(added)


def _serve(
    settings: Settings,
    stop: Any,
    counts: list[Synchronized[int]],
    parent: int,
    level: str,
) -> None:  # pragma: no cover - runs in the child process (tested through the worker)
    from pipeline.core.logs import configure_logging
    from pipeline.sinks.history import TopicHistory

    configure_logging(level)
    os.nice(NICENESS)

    def count(outcome: str, points: int) -> None:
        counter = counts[OUTCOMES.index(outcome)]
        with counter.get_lock():
            counter.value += points

    client = InfluxDBClient(
        url=settings.influx_url,
        token=settings.influx_token,
        org=settings.influx_org,
        timeout=INFLUX_TIMEOUT_MS,
    )
    history = TopicHistory(settings, client, count)
    history.start()
    try:
        while not stop.wait(PARENT_CHECK_S):
            if os.getppid() != parent:
                log.warning("history_worker_gone", worker=parent)
                break
    finally:
        history.stop()
        client.close()  # type: ignore[no-untyped-call]  # influxdb-client has no annotation
