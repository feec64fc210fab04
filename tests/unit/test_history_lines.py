"""The history writer's status and incident lines are byte-for-byte influxdb-client's ``Point``
line protocol (``status_point`` / ``incident_point`` are the reference)."""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core.schema import Status
from pipeline.core.timeutil import parse_rfc3339
from pipeline.incidents.model import Incident, IncidentEvent, ServiceRef
from pipeline.monitoring.status import StatusChange
from pipeline.sinks.history import incident_record_line, status_record_line
from pipeline.sinks.history_lines import field_text, incident_line, status_line
from pipeline.sinks.influx import incident_point, status_point
from tests.support.awkward_text import AWKWARD

NUMBERS: list[Any] = [None, 0, 7, -3, 2**40, 0.0, -0.0, 1.5, 1e22, 1e-7, math.inf, math.nan, True]


def status_reference(change: StatusChange) -> str:
    return str(status_point(change).to_line_protocol())  # type: ignore[no-untyped-call]


def incident_reference(event: IncidentEvent) -> str:
    return str(incident_point(event).to_line_protocol())  # type: ignore[no-untyped-call]


def change(text: str, **overrides: Any) -> StatusChange:
    values: dict[str, Any] = {
        "service_id": text,
        "operator_id": f"op{text}",
        "sector": text,
        "region": f"{text}r",
        "previous": Status.UP,
        "current": Status.DOWN,
        "at": 1_795_999_056.139,
        "reason": text,
        "event_id": None,
        "customers_served": None,
        "customers_affected": None,
    }
    values.update(overrides)
    return StatusChange(**values)


def event(text: str, kind: str = "detected", **overrides: Any) -> IncidentEvent:
    values: dict[str, Any] = {
        "incident_id": f"{text}/60",
        "service": ServiceRef(text, f"op{text}", text, f"{text}r"),
        "started_at": 60.0,
        "detected_at": 120.5,
    }
    values.update(overrides)
    return IncidentEvent(kind, 1_795_999_056.139, Incident(**values))


def test_status_lines_over_awkward_text_statuses_and_numbers() -> None:
    checked = 0
    for text in AWKWARD:
        for previous in (None, *Status):
            for current in Status:
                item = change(text, previous=previous, current=current)
                assert status_line(item) == status_reference(item), item
                checked += 1
        for number in NUMBERS:
            item = change(text, customers_served=number, customers_affected=number)
            assert status_line(item) == status_reference(item), item
            checked += 1
    assert checked == len(AWKWARD) * (6 * 5 + len(NUMBERS))


def test_incident_lines_over_awkward_text_kinds_and_numbers() -> None:
    for text in AWKWARD:
        for kind in ("detected", "restored", "maintenance_outage_started", text):
            for maintenance in (False, True):
                item = event(text, kind, maintenance=maintenance, severity=text)
                assert incident_line(item) == incident_reference(item), item
        for number in NUMBERS:
            item = event(
                text,
                acknowledged_at=number,
                restored_at=number,
                customers_affected=number,
                users_affected=number,
            )
            assert incident_line(item) == incident_reference(item), item
        # started/detected in every float shape (and non-finite: the fields are left out)
        for started, detected in ((0.0, 0.0), (1.0, math.inf), (math.nan, 2.0), (-1e-7, 3.0)):
            item = event(text, started_at=started, detected_at=detected, restored_at=5)
            assert incident_line(item) == incident_reference(item), item


def test_records_from_the_topics_match_the_points() -> None:
    """What the writer thread turns a topic record into: the same line as the old ``Point``."""
    status_record = orjson.dumps(
        {
            "service_id": "grid f12",
            "operator_id": "op,1",
            "sector": "energy",
            "region": "UA-30",
            "previous": None,
            "status": "down",
            "at": "2026-11-30T01:00:00.123456Z",
            "reason": 'feed said "down"\\',
            "customers_served": 1200,
            "customers_affected": 300,
        }
    )
    line = status_record_line(status_record)
    assert isinstance(line, str)
    expected = change(
        "grid f12", operator_id="op,1", sector="energy", region="UA-30", previous=None,
        at=parse_rfc3339("2026-11-30T01:00:00.123456Z"), reason='feed said "down"\\',
        customers_served=1200, customers_affected=300,
    )  # fmt: skip
    assert line == status_reference(expected)
    assert line.startswith("service_status,operator_id=op\\,1,region=UA-30,sector=energy,")
    assert 'reason="feed said \\"down\\"\\\\"' in line
    inc = Incident(
        "grid/60", ServiceRef("grid", "op", "energy", "UA-30"), 60.0, 120.0, restored_at=180
    )
    incident_record = orjson.dumps({"event": "restored", "at": 180.0, "incident": inc.to_dict()})
    line = incident_record_line(incident_record)
    reference = incident_reference(IncidentEvent("restored", 180.0, inc))
    assert line == reference
    assert "restored_at=180i" in line  # an integer stays an integer, as the client wrote it


def test_field_types_the_client_refuses_are_refused() -> None:
    with pytest.raises(ValueError, match="customers_affected"):
        field_text("customers_affected", [1])
    assert field_text("x", Status.DOWN) == 'x="down"'
    # the writer's converter raises, so the record is dead-lettered as invalid, not retried
    record = {
        "service_id": "s", "operator_id": "o", "sector": "energy", "region": "UA-30",
        "previous": None, "status": "down", "at": "2026-11-30T01:00:00Z", "reason": "r",
        "customers_affected": [1, 2],
    }  # fmt: skip
    with pytest.raises(ValueError, match="customers_affected"):
        status_record_line(orjson.dumps(record))


@settings(max_examples=300, deadline=None)
@given(
    texts=st.lists(st.text(max_size=10), min_size=6, max_size=6),
    previous=st.sampled_from([None, *Status]),
    current=st.sampled_from(list(Status)),
    at=st.floats(min_value=0.0, max_value=4_000_000_000.0),
    served=st.one_of(st.none(), st.integers(), st.floats()),
    affected=st.one_of(st.none(), st.integers(), st.floats(), st.booleans()),
)
def test_any_status_change_matches_the_client(
    texts: list[str],
    previous: Status | None,
    current: Status,
    at: float,
    served: Any,
    affected: Any,
) -> None:
    service, operator, sector, region, reason, _ = texts
    item = StatusChange(
        service_id=service, operator_id=operator, sector=sector, region=region,
        previous=previous, current=current, at=at, reason=reason, event_id=None,
        customers_served=served, customers_affected=affected,
    )  # fmt: skip
    assert status_line(item) == status_reference(item)


@settings(max_examples=300, deadline=None)
@given(
    texts=st.lists(st.text(max_size=10), min_size=7, max_size=7),
    times=st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=2, max_size=2),
    restored=st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
    acknowledged=st.one_of(st.none(), st.floats(), st.integers()),
    people=st.lists(st.one_of(st.none(), st.integers()), min_size=2, max_size=2),
    maintenance=st.booleans(),
    at=st.floats(min_value=0.0, max_value=4_000_000_000.0),
)
def test_any_incident_event_matches_the_client(
    texts: list[str],
    times: list[float],
    restored: float | None,
    acknowledged: Any,
    people: list[int | None],
    maintenance: bool,
    at: float,
) -> None:
    service, operator, sector, region, incident_id, severity, kind = texts
    inc = Incident(
        incident_id, ServiceRef(service, operator, sector, region), times[0], times[1],
        acknowledged_at=acknowledged, restored_at=restored, severity=severity,
        customers_affected=people[0], users_affected=people[1], maintenance=maintenance,
    )  # fmt: skip
    item = IncidentEvent(kind, at, inc)
    assert incident_line(item) == incident_reference(item)
