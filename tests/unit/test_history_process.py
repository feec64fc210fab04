"""The history writer's process: its counts reach the worker's metrics once each."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from pipeline.config.settings import Settings
from pipeline.metrics.worker import WorkerMetrics
from pipeline.sinks.history_process import OUTCOMES, HistoryProcess
from pipeline.sinks.influx import SINK_NAME


def written(registry: CollectorRegistry, result: str) -> float | None:
    return registry.get_sample_value(
        "continuity_sink_points_total", {"sink": SINK_NAME, "result": result}
    )


def test_report_adds_what_was_counted_since_the_last_report() -> None:
    registry = CollectorRegistry()
    history = HistoryProcess(Settings.from_env({}), WorkerMetrics(registry))
    counts = history._counts  # what the child adds to (shared memory)
    counts[OUTCOMES.index("written")].value = 120
    counts[OUTCOMES.index("rejected")].value = 2
    history.report()
    history.report()  # nothing new: nothing added twice
    assert written(registry, "written") == 120.0
    assert written(registry, "rejected") == 2.0
    assert written(registry, "retried") is None
    counts[OUTCOMES.index("written")].value = 150
    counts[OUTCOMES.index("retried")].value = 7
    history.report()
    assert written(registry, "written") == 150.0
    assert written(registry, "retried") == 7.0


def test_stop_before_start_does_nothing() -> None:
    history = HistoryProcess(Settings.from_env({}), WorkerMetrics(CollectorRegistry()))
    history.stop()
    assert history.pid is None
