from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from pipeline.metrics import WorkerMetrics
from pipeline.monitor import Monitoring, MonitorParams
from pipeline.status import SilencePolicy
from pipeline.timeutil import format_rfc3339
from pipeline.worker.processor import ObservationProcessor
from tests.support.observations import wire

NOW = 1_700_000_000.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def processor(clock: Clock) -> ObservationProcessor:
    return ObservationProcessor(
        Monitoring(MonitorParams(silence=SilencePolicy(default_interval=10.0))),
        WorkerMetrics(CollectorRegistry()),
        clock=clock,
    )


def sample(processor: ObservationProcessor, name: str, **labels: str) -> float:
    value = processor.metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_bad_message_goes_to_deadletter_with_original_bytes(
    processor: ObservationProcessor,
) -> None:
    store: dict[str, Any] = {}
    out = processor.handle(
        b"\xff\x00garbage", store, topic="cw.observations", partition=3, offset=42
    )
    assert out.status == []
    record = orjson.loads(out.deadletter[0][1])
    assert record["reason"] == "malformed_json"
    assert (record["source_partition"], record["source_offset"]) == (3, 42)
    assert base64.b64decode(record["original_b64"]) == b"\xff\x00garbage"
    assert store == {}
    assert sample(processor, "continuity_observations_rejected_total", reason="malformed_json") == 1


def test_status_change_is_emitted_and_stored(processor: ObservationProcessor) -> None:
    store: dict[str, Any] = {}
    report = {"kind": "status_report", "service_id": "a"}
    processor.handle(wire(status="up", **report), store, topic="t", partition=0, offset=0)
    out = processor.handle(
        wire(status="down", observed_at=format_rfc3339(NOW + 5), **report),
        store,
        topic="t",
        partition=0,
        offset=1,
    )
    key, value = out.status[0]
    change = orjson.loads(value)
    assert key == b"a"
    assert (change["previous"], change["status"]) == ("up", "down")
    assert store["a"]["state"]["status"] == "down"
    incident = orjson.loads(out.incidents[0][1])
    assert (incident["event"], incident["incident"]["started_at"]) == ("detected", NOW + 5)
    assert [orjson.loads(v)["type"] for _, v in out.ledger] == ["incident"]
    labels = {"service_id": "a", "operator_id": "op-1", "sector": "health", "region": "EE-78"}
    assert sample(processor, "continuity_service_status", **labels, status="down") == 1
    assert sample(processor, "continuity_service_status", **labels, status="up") == 0


def test_duplicates_are_counted_not_applied(processor: ObservationProcessor) -> None:
    store: dict[str, Any] = {}
    raw = wire(status="down", event_id="same")
    processor.handle(raw, store, topic="t", partition=0, offset=0)
    out = processor.handle(raw, store, topic="t", partition=0, offset=1)
    assert out.status == []
    assert (
        sample(
            processor,
            "continuity_observations_total",
            sector="health",
            kind="probe",
            outcome="duplicate",
        )
        == 1
    )


def test_silence_check_emits_once_per_transition(
    processor: ObservationProcessor, clock: Clock
) -> None:
    store: dict[str, Any] = {}
    processor.handle(wire(service_id="quiet"), store, topic="t", partition=0, offset=0)
    clock.now = NOW + 25
    first = processor.check(store, ["quiet"])
    again = processor.check(store, ["quiet"])
    assert [orjson.loads(v)["status"] for _, v in first.status] == ["unknown"]
    assert again.status == []
    clock.now = NOW + 45
    assert [orjson.loads(v)["status"] for _, v in processor.check(store, ["quiet"]).status] == [
        "down"
    ]


def test_processing_error_is_dead_lettered(processor: ObservationProcessor) -> None:
    store: dict[str, Any] = {"svc-1": {"state": {"corrupt": True}}}
    out = processor.handle(wire(), store, topic="t", partition=0, offset=0)
    assert orjson.loads(out.deadletter[0][1])["reason"] == "processing_error"


def test_a_broken_state_does_not_stop_the_check(processor: ObservationProcessor) -> None:
    store: dict[str, Any] = {"broken": {"state": {"status": "up"}}}
    processor.handle(wire(service_id="fine"), store, topic="t", partition=0, offset=0)
    processor.clock = lambda: NOW + 1000
    out = processor.check(store, ["broken", "fine"])
    assert [orjson.loads(v)["service_id"] for _, v in out.status] == ["fine"]
    assert sample(processor, "continuity_check_errors_total") == 1
