"""What the processor logs at info: its incident events, a line per batch; status changes at
debug only (they are records, metrics and history points already)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import orjson
import pytest
import structlog
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from pipeline.bench.data import ObservationMix, service_ref
from pipeline.config.settings import Settings
from pipeline.core.schema import Kind, Status
from pipeline.metrics.worker import WorkerMetrics
from pipeline.worker import processor as processor_module
from pipeline.worker.incident_log import INCIDENT_LOG_CHUNK
from pipeline.worker.live_states import LiveStates
from pipeline.worker.processor import ObservationProcessor
from pipeline.worker.wiring import build_processor

START = 1_700_000_000.0


def _flips(services: int, flips: int) -> list[bytes]:
    """Status reports flipping ``services`` services down and up again, ``flips`` each."""
    mix = ObservationMix(services, namespace="flip")
    values = []
    for round_ in range(flips):
        for index in range(services):
            obs = mix.observation(
                service_ref(index, namespace="flip"),
                event_id=f"f{round_}-{index}",
                observed_at=START + 60.0 * round_ + index * 0.01,
                status=Status.DOWN if round_ % 2 else Status.UP,
                kind=Kind.STATUS_REPORT,
            )
            values.append(obs.to_json())
    return values


@pytest.fixture(autouse=True)
def _every_level(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Default structlog (every level), and a processor logger not cached by an earlier
    test's configuration; the configuration is restored afterwards."""
    saved = structlog.get_config()
    structlog.reset_defaults()
    monkeypatch.setattr(processor_module, "log", structlog.get_logger(processor_module.__name__))
    yield
    structlog.configure(**saved)


def _processor() -> ObservationProcessor:
    settings = replace(Settings(), default_interval=3600.0)
    return build_processor(settings, WorkerMetrics(CollectorRegistry()), clock=lambda: START)


def test_incident_events_are_logged_once_per_batch_in_chunks() -> None:
    processor = _processor()
    live = LiveStates({}, processor.monitoring)
    values = _flips(services=30, flips=3)  # up (first sighting), down, up again
    batch = [(value, "obs", 0, offset) for offset, value in enumerate(values)]
    with capture_logs() as logs:
        out = processor.handle_batch(batch, live)
    produced = [orjson.loads(value) for _key, value in out.incidents]
    assert [event["event"] for event in produced] == ["detected"] * 30 + ["restored"] * 30
    lines = [entry for entry in logs if entry["event"] == "incident_events"]
    assert [line["log_level"] for line in lines] == ["info"] * 3
    assert [line["count"] for line in lines] == [INCIDENT_LOG_CHUNK] * 3
    logged: list[dict[str, Any]] = [event for line in lines for event in line["events"]]
    # every event, in order, with what an operator looks up
    assert [(e["kind"], e["incident_id"], e["service_id"]) for e in logged] == [
        (e["event"], e["incident"]["incident_id"], e["incident"]["service"]["service_id"])
        for e in produced
    ]
    assert logged[-1]["restored_at"] == produced[-1]["incident"]["restored_at"]
    assert logged[0]["started_at"] == produced[0]["incident"]["started_at"]
    # each status change is there at debug only (90: 30 first sightings, 30 down, 30 up)
    changes = [entry for entry in logs if entry["event"] == "status_changed"]
    assert len(changes) == len(out.status) == 90
    assert {entry["log_level"] for entry in changes} == {"debug"}
    assert changes[30] == {
        "event": "status_changed",
        "log_level": "debug",
        "service_id": orjson.loads(out.status[30][1])["service_id"],
        "previous": "up",
        "status": "down",
        "reason": "evidence",
    }


def test_a_batch_without_incident_events_logs_nothing_at_info() -> None:
    processor = _processor()
    live = LiveStates({}, processor.monitoring)
    batch = [(value, "obs", 0, offset) for offset, value in enumerate(_flips(5, 1))]
    with capture_logs() as logs:
        processor.handle_batch(batch, live)
        processor.check(live, owned={0})
    assert [entry for entry in logs if entry["log_level"] != "debug"] == []
