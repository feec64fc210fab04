"""The bench's topic readers parse what the worker really emits."""

from __future__ import annotations

import orjson

from pipeline.bench.kafka_io import IncidentRecord, StatusRecord
from pipeline.core.schema import Status
from pipeline.incidents.model import Incident, IncidentEvent, ServiceRef
from pipeline.monitoring.status import StatusChange


def test_incident_record_reads_an_incident_event() -> None:
    ref = ServiceRef("grid-1", "op", "energy", "UA-30", customers_served=10)
    event = IncidentEvent("detected", 105.0, Incident("grid-1/100", ref, 100.5, 105.0))

    record = IncidentRecord.parse(7.0, orjson.loads(orjson.dumps(event.to_dict())))

    assert (record.event, record.incident_id, record.service_id) == (
        "detected",
        "grid-1/100",
        "grid-1",
    )
    assert (record.started_at, record.seen_at) == (100.5, 7.0)


def test_status_record_reads_a_status_change() -> None:
    change = StatusChange(
        service_id="grid-1",
        operator_id="op",
        sector="energy",
        region="UA-30",
        previous=Status.UP,
        current=Status.DOWN,
        at=100.0,
        reason="evidence",
        event_id="e-1",
        customers_served=None,
        customers_affected=None,
    )

    record = StatusRecord.parse(7.0, orjson.loads(orjson.dumps(change.to_dict())))

    assert (record.service_id, record.status, record.event_id) == ("grid-1", "down", "e-1")
