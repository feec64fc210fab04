from __future__ import annotations

from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from pipeline.config.maintenance import parse_calendar
from pipeline.incidents.model import Incident, IncidentEvent, ServiceRef
from pipeline.indicators.rollup import rollup
from pipeline.metrics.indicators import IndicatorGauges, known_indicator_names
from pipeline.metrics.worker import WorkerMetrics
from pipeline.worker.ledger_processor import LedgerProcessor
from pipeline.worker.ledger_records import ledger_incident_record, ledger_service_record

NOW = 1_700_000_000.0


def incident(service: str, operator: str, sector: str, start: float, end: float | None) -> Incident:
    ref = ServiceRef(service, operator, sector, "UA-30", customers_served=100)
    return Incident(f"{service}/{int(start)}", ref, start, start + 30, restored_at=end)


def ledger() -> LedgerProcessor:
    registry = CollectorRegistry()
    return LedgerProcessor(WorkerMetrics(registry), IndicatorGauges(registry), clock=lambda: NOW)


def test_every_rollup_indicator_has_a_metric() -> None:
    refs = [
        ServiceRef(s, "op", sector, "UA-30", 100)
        for s, sector in (("e", "energy"), ("t", "telecom"), ("b", "transport"), ("h", "health"))
    ]
    rows = rollup([incident("e", "op", "energy", NOW - 900, NOW - 300)], refs, NOW)
    assert {r.name for r in rows} <= known_indicator_names()


def test_overlapping_incidents_of_two_operators_are_correlated() -> None:
    processor = ledger()
    services: dict[str, Any] = {}
    incidents: dict[str, Any] = {}
    state: dict[str, Any] = {}
    first = incident("grid", "op-a", "energy", NOW - 600, None)
    second = incident("mobile", "op-b", "telecom", NOW - 500, None)
    out1 = processor.handle(
        ledger_incident_record(IncidentEvent("detected", NOW, first)), services, incidents, state
    )
    out2 = processor.handle(
        ledger_incident_record(IncidentEvent("detected", NOW, second)), services, incidents, state
    )
    assert out1.anomalies == []
    finding = orjson.loads(out2.anomalies[0][1])
    assert finding["type"] == "concurrent_disruption"
    assert sorted(finding["incident_ids"]) == sorted([first.incident_id, second.incident_id])
    assert sorted(services) == ["grid", "mobile"]


def test_indicators_prune_history_and_export_gauges() -> None:
    processor = ledger()
    services = {
        "s": ledger_service_record(ServiceRef("s", "op", "energy", "UA-30", 100))["service"]
    }
    old = incident("s", "op", "energy", NOW - 40 * 86400, NOW - 39 * 86400)
    recent = incident("s", "op", "energy", NOW - 3600, NOW - 3000)
    incidents = {i.incident_id: i.to_dict() for i in (old, recent)}
    out = processor.indicators(services, incidents)
    assert list(incidents) == [recent.incident_id]
    assert out.indicators
    value = processor.gauges.registry.get_sample_value(
        "continuity_downtime_seconds", {"dimension": "service", "key": "s", "window": "24h"}
    )
    assert value == 600.0


def test_maintenance_calendar_from_yaml() -> None:
    calendar = parse_calendar(
        "maintenance:\n  - service_id: s\n    start: 2023-11-14T22:00:00Z\n"
        "    end: '2023-11-14T23:00:00+00:00'\n    reason: firmware\n"
    )
    window = calendar.active("s", NOW)
    assert window is not None
    assert window.reason == "firmware"


def test_maintenance_calendar_names_the_bad_entry() -> None:
    with pytest.raises(ValueError, match=r"maintenance\[0\]\.end"):
        parse_calendar("maintenance:\n  - service_id: s\n    start: 2023-11-14T22:00:00Z\n")


def test_rollup_gives_service_rows_only_where_asked_but_groups_count_everyone() -> None:
    refs = [ServiceRef(s, "op", "energy", "UA-30", 100) for s in ("down", "quiet")]
    rows = rollup(
        [incident("down", "op", "energy", NOW - 1800, NOW - 900)],
        refs,
        NOW,
        windows={"1h": 3600.0},
        service_rows={"down"},
    )
    assert {r.key for r in rows if r.dimension == "service"} == {"down"}
    sector = next(
        r for r in rows if r.name == "availability_incl_maintenance" and r.key == "energy"
    )
    assert sector.value == pytest.approx((0.75 + 1.0) / 2)


def test_a_service_that_turns_quiet_gets_a_last_row_and_loses_its_series() -> None:
    now = [NOW]
    registry = CollectorRegistry()
    processor = LedgerProcessor(
        WorkerMetrics(registry), IndicatorGauges(registry), clock=lambda: now[0]
    )
    services = {
        sid: ledger_service_record(ServiceRef(sid, "op", "energy", "UA-30", 100))["service"]
        for sid in ("down", "quiet")
    }
    outage = incident("down", "op", "energy", NOW - 3600, NOW - 3000)
    incidents = {outage.incident_id: outage.to_dict()}

    def downtime(key: str) -> float | None:
        return registry.get_sample_value(
            "continuity_downtime_seconds", {"dimension": "service", "key": key, "window": "24h"}
        )

    processor.indicators(services, incidents)
    assert (downtime("down"), downtime("quiet")) == (600.0, None)

    now[0] = NOW + 31 * 86_400  # the outage leaves every window
    out = processor.indicators(services, incidents)
    last = [orjson.loads(v) for k, v in out.indicators if (k or b"").startswith(b"service:down")]
    assert {row["name"] for row in last} >= {"downtime_s", "availability_incl_maintenance"}
    assert downtime("down") is None
    assert registry.get_sample_value(
        "continuity_availability_ratio",
        {"dimension": "sector", "key": "energy", "window": "24h", "maintenance": "included"},
    ) == pytest.approx(1.0)

    out = processor.indicators(services, incidents)
    assert not [k for k, _ in out.indicators if (k or b"").startswith(b"service:")]


def test_the_correlator_reaches_the_state_table_once_per_flush_and_a_recovered_table_wins() -> None:
    first = incident("grid", "op-a", "energy", NOW - 600, None)
    second = incident("mobile", "op-b", "telecom", NOW - 500, None)

    def handle(processor: LedgerProcessor, state: dict[str, Any], event: Incident) -> Any:
        record = ledger_incident_record(IncidentEvent("detected", NOW, event))
        return processor.handle(record, {}, {}, state).anomalies

    flushed: dict[str, Any] = {}
    unflushed: dict[str, Any] = {}
    for state, flush in ((flushed, True), (unflushed, False)):
        processor = ledger()
        handle(processor, state, first)
        if flush:
            processor.flush(state)
        # Another worker recovers the table from its changelog and goes on.
        recovered = orjson.loads(orjson.dumps(state))
        found = handle(ledger(), recovered, second)
        assert bool(found) is flush

    # The same processor, given a table recovered afresh (here: empty), drops what it had.
    processor = ledger()
    handle(processor, flushed, first)
    assert handle(processor, {}, second) == []
