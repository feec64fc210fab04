from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from pipeline.core.timeutil import format_rfc3339
from pipeline.metrics.worker import WorkerMetrics
from pipeline.monitoring.monitor import Monitoring, MonitorParams
from pipeline.monitoring.status import SilencePolicy
from pipeline.worker.live_states import LiveStates
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


@pytest.fixture
def store() -> dict[str, Any]:
    return {}


@pytest.fixture
def live(processor: ObservationProcessor, store: dict[str, Any]) -> LiveStates:
    return LiveStates(store, processor.monitoring)


def stored(store: dict[str, Any], key: str) -> Any:
    return orjson.loads(store[key])


def sample(processor: ObservationProcessor, name: str, **labels: str) -> float:
    value = processor.metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_bad_message_goes_to_deadletter_with_original_bytes(
    processor: ObservationProcessor, live: LiveStates, store: dict[str, Any]
) -> None:
    out = processor.handle(
        b"\xff\x00garbage", live, topic="cw.observations", partition=3, offset=42
    )
    processor.flush(live)
    assert out.status == []
    record = orjson.loads(out.deadletter[0][1])
    assert record["reason"] == "malformed_json"
    assert (record["source_partition"], record["source_offset"]) == (3, 42)
    assert base64.b64decode(record["original_b64"]) == b"\xff\x00garbage"
    assert store == {}
    assert sample(processor, "continuity_observations_rejected_total", reason="malformed_json") == 1


def test_status_change_is_emitted_and_stored(
    processor: ObservationProcessor, live: LiveStates, store: dict[str, Any]
) -> None:
    report = {"kind": "status_report", "service_id": "a"}
    processor.handle(wire(status="up", **report), live, topic="t", partition=0, offset=0)
    out = processor.handle(
        wire(status="down", observed_at=format_rfc3339(NOW + 5), **report),
        live,
        topic="t",
        partition=0,
        offset=1,
    )
    assert store == {}, "written once per batch, by flush"
    assert processor.flush(live) == 1
    key, value = out.status[0]
    change = orjson.loads(value)
    assert key == b"a"
    assert (change["previous"], change["status"]) == ("up", "down")
    assert stored(store, "a")["state"]["status"] == "down"
    incident = orjson.loads(out.incidents[0][1])
    assert (incident["event"], incident["incident"]["started_at"]) == ("detected", NOW + 5)
    assert [orjson.loads(v)["type"] for _, v in out.ledger] == ["incident"]
    labels = {"service_id": "a", "operator_id": "op-1", "sector": "health", "region": "EE-78"}
    assert sample(processor, "continuity_service_status", **labels, status="down") == 1
    assert sample(processor, "continuity_service_status", **labels, status="up") == 0


def test_duplicates_are_counted_not_applied(
    processor: ObservationProcessor, live: LiveStates
) -> None:
    raw = wire(status="down", event_id="same")
    processor.handle(raw, live, topic="t", partition=0, offset=0)
    processor.flush(live)
    out = processor.handle(raw, live, topic="t", partition=0, offset=1)
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
    processor: ObservationProcessor, live: LiveStates, store: dict[str, Any], clock: Clock
) -> None:
    processor.handle(wire(service_id="quiet"), live, topic="t", partition=0, offset=0)
    processor.flush(live)
    clock.now = NOW + 25
    first = processor.check(live, {0})
    again = processor.check(live, {0})
    assert [orjson.loads(v)["status"] for _, v in first.status] == ["unknown"]
    assert again.status == []
    assert stored(store, "quiet")["state"]["status"] == "unknown"
    clock.now = NOW + 45
    assert [orjson.loads(v)["status"] for _, v in processor.check(live, {0}).status] == ["down"]


def test_check_ignores_services_of_partitions_not_owned(
    processor: ObservationProcessor, live: LiveStates, clock: Clock
) -> None:
    processor.handle(wire(service_id="elsewhere"), live, topic="t", partition=4, offset=0)
    processor.flush(live)
    clock.now = NOW + 25
    assert processor.check(live, {0, 1}).status == []
    assert [orjson.loads(v)["service_id"] for _, v in processor.check(live, {4}).status] == [
        "elsewhere"
    ]


def test_processing_error_is_dead_lettered(
    processor: ObservationProcessor, live: LiveStates, store: dict[str, Any]
) -> None:
    store["svc-1"] = b'{"state": {"corrupt": true}}'
    out = processor.handle(wire(), live, topic="t", partition=0, offset=0)
    assert orjson.loads(out.deadletter[0][1])["reason"] == "processing_error"


def test_a_broken_state_does_not_stop_the_check(
    processor: ObservationProcessor, live: LiveStates, store: dict[str, Any]
) -> None:
    store["broken"] = b'{"state": {"status": "up"}}'
    processor.handle(wire(service_id="fine"), live, topic="t", partition=0, offset=0)
    processor.flush(live)
    processor.clock = lambda: NOW + 1000
    out = processor.check(live, {0})
    assert [orjson.loads(v)["service_id"] for _, v in out.status] == ["fine"]
    assert sample(processor, "continuity_check_errors_total") == 1


def test_kpi_anomaly_records_carry_the_service_dimensions(
    processor: ObservationProcessor, live: LiveStates
) -> None:
    """Notice subscribers scope anomalies by sector/region/operator: the record says them."""
    anomalies: list[dict[str, Any]] = []
    for i in range(200):
        at = NOW - 60 * (200 - i)
        value = 1000.0 + (i % 5) if i < 199 else 5.0
        kpi = {"kind": "kpi", "status": None, "metric": "attach_success", "value": value}
        out = processor.handle(
            wire(observed_at=format_rfc3339(at), **kpi), live, topic="t", partition=0, offset=i
        )
        anomalies += [orjson.loads(v) for _k, v in out.anomalies]
    assert anomalies, "the drop to 5.0 should score as an anomaly"
    assert anomalies[-1]["service"] == {
        "service_id": "svc-1",
        "operator_id": "op-1",
        "sector": "health",
        "region": "EE-78",
        "customers_served": None,
    }
