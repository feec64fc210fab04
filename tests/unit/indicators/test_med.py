"""IEEE 1366 Major Event Days per energy operator: T_MED, today's flag, SAIDI without MEDs."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest
from prometheus_client import CollectorRegistry

from pipeline.incidents.model import Incident, IncidentEvent, ServiceRef
from pipeline.indicators.med import MED, NOT_MED, UNDETERMINED, major_event_rows
from pipeline.indicators.rollup import rollup
from pipeline.metrics.indicators import IndicatorGauges, known_indicator_names
from pipeline.metrics.worker import WorkerMetrics
from pipeline.worker.ledger_processor import LedgerProcessor
from pipeline.worker.ledger_records import ledger_incident_record, ledger_service_record

DAY = 86_400.0
TODAY = 19_700  # a UTC day number
NOW = TODAY * DAY + 15 * 3600.0  # 15:00 UTC
WINDOWS = {"24h": DAY, "30d": 30 * DAY}
FEEDER = ServiceRef("feeder-1", "grid", "energy", "UA-30", customers_served=1000)
OTHER = ServiceRef("feeder-2", "grid", "energy", "UA-30", customers_served=1000)


def outage(
    ref: ServiceRef, day: int, minutes: float, customers: int | None = None, hour: int = 2
) -> Incident:
    start = day * DAY + hour * 3600.0
    return Incident(
        f"{ref.service_id}/{day}/{hour}", ref, start, start + 60,
        restored_at=start + minutes * 60, customers_affected=customers,
    )  # fmt: skip


def by_name(rows: list[Any]) -> dict[tuple[str, str], float | None]:
    return {(r.name, r.window): r.value for r in rows if r.key == "grid"}


def history(days: int, rng: np.random.Generator) -> list[Incident]:
    """One sustained outage of a random length on each of the last ``days`` completed days."""
    return [
        outage(FEEDER, TODAY - d, float(rng.uniform(10, 90)), customers=int(rng.integers(50, 500)))
        for d in range(1, days + 1)
    ]


def test_t_med_is_exp_alpha_plus_2_5_beta_of_the_completed_days() -> None:
    incidents = history(20, np.random.default_rng(7))
    rows = by_name(major_event_rows(incidents, [FEEDER, OTHER], NOW, WINDOWS))
    daily = [
        (i.customers_affected or 0) * ((i.restored_at or 0) - i.started_at) / 60 / 2000
        for i in incidents
    ]
    logs = np.log(daily)
    expected = float(np.exp(logs.mean() + 2.5 * logs.std(ddof=1)))
    assert rows[("t_med_min", "history")] == pytest.approx(expected, rel=1e-9)
    assert rows[("med_history_days", "history")] == 20
    assert rows[("major_event_day", "today")] == NOT_MED  # nothing happened today
    assert rows[("major_event_days", "history")] == 0


def test_a_storm_today_is_flagged_and_left_out_of_saidi_excluding_meds() -> None:
    incidents = [*history(20, np.random.default_rng(3)), outage(FEEDER, TODAY, 600, 2000)]
    rows = by_name(major_event_rows(incidents, [FEEDER, OTHER], NOW, WINDOWS))
    assert rows[("major_event_day", "today")] == MED
    assert rows[("saidi_excl_med_min", "24h")] == 0.0  # only today's storm in the last 24 h
    with_storm = {
        r.window: r.value or 0.0
        for r in rollup(incidents, [FEEDER, OTHER], NOW, WINDOWS)
        if r.name == "saidi_min" and r.dimension == "operator"
    }
    assert with_storm["24h"] == pytest.approx(600.0)  # 2000 customers x 600 min / 2000
    assert rows[("saidi_excl_med_min", "30d")] == pytest.approx(with_storm["30d"] - 600.0)


def test_a_past_major_event_day_is_counted_and_excluded() -> None:
    incidents = [*history(20, np.random.default_rng(5)), outage(FEEDER, TODAY - 3, 900, 2000)]
    rows = by_name(major_event_rows(incidents, [FEEDER, OTHER], NOW, WINDOWS))
    assert rows[("major_event_days", "history")] == 1
    assert rows[("major_event_day", "today")] == NOT_MED
    saidi_30d = next(
        r.value
        for r in rollup(incidents, [FEEDER, OTHER], NOW, WINDOWS)
        if r.name == "saidi_min" and r.dimension == "operator" and r.window == "30d"
    )
    assert saidi_30d is not None
    same_day = incidents[2]  # the ordinary outage of that day goes with it (whole day out)
    same_day_minutes = ((same_day.restored_at or 0) - same_day.started_at) / 60
    same_day_saidi = (same_day.customers_affected or 0) * same_day_minutes / 2000
    expected = saidi_30d - 900.0 - same_day_saidi
    assert rows[("saidi_excl_med_min", "30d")] == pytest.approx(expected)


def test_too_little_history_leaves_t_med_undetermined_and_excludes_nothing() -> None:
    # 9 days with interruptions, momentary ones (<= 5 min) on others: zero SAIDI, not counted.
    incidents = [
        *history(9, np.random.default_rng(1)),
        *(outage(FEEDER, TODAY - d, 3, 100) for d in range(10, 20)),
        outage(FEEDER, TODAY, 600, 2000),
    ]
    rows = by_name(major_event_rows(incidents, [FEEDER, OTHER], NOW, WINDOWS))
    assert rows[("med_history_days", "history")] == 9
    assert ("t_med_min", "history") not in rows
    assert ("major_event_days", "history") not in rows
    assert rows[("major_event_day", "today")] == UNDETERMINED
    saidi_24h = next(
        r.value
        for r in rollup(incidents, [FEEDER, OTHER], NOW, WINDOWS)
        if r.name == "saidi_min" and r.dimension == "operator" and r.window == "24h"
    )
    assert rows[("saidi_excl_med_min", "24h")] == saidi_24h
    fewer = by_name(major_event_rows(incidents, [FEEDER], NOW, WINDOWS, min_days=5))
    assert fewer[("major_event_day", "today")] == MED


def test_only_energy_operators_get_rows_and_min_days_is_checked() -> None:
    mobile = ServiceRef("cell", "telco", "telecom", "UA-30", customers_served=5000)
    rows = major_event_rows([outage(mobile, TODAY, 60)], [mobile, FEEDER], NOW, WINDOWS)
    assert {r.key for r in rows} == {"grid"}
    assert {r.dimension for r in rows} == {"operator"}
    with pytest.raises(ValueError, match="min_days"):
        major_event_rows([], [FEEDER], NOW, WINDOWS, min_days=1)


def test_the_worker_roll_up_exports_the_flag_threshold_and_saidi_excluding_meds() -> None:
    registry = CollectorRegistry()
    processor = LedgerProcessor(
        WorkerMetrics(registry), IndicatorGauges(registry), clock=lambda: NOW, windows=WINDOWS
    )
    services: dict[str, Any] = {}
    incidents: dict[str, Any] = {}
    processor.handle(ledger_service_record(FEEDER), services, incidents, {})
    processor.handle(ledger_service_record(OTHER), services, incidents, {})
    for inc in [*history(12, np.random.default_rng(2)), outage(FEEDER, TODAY, 600, 2000)]:
        event = IncidentEvent("restored", inc.restored_at or NOW, inc)
        processor.handle(ledger_incident_record(event), services, incidents, {})
    out = processor.indicators(services, incidents)
    names = {str(orjson.loads(v)["name"]) for _k, v in out.indicators}
    assert {"t_med_min", "major_event_day", "saidi_excl_med_min"} <= names
    labels = {"dimension": "operator", "key": "grid"}
    assert (
        registry.get_sample_value("continuity_major_event_day", {**labels, "window": "today"}) == 1
    )
    threshold = registry.get_sample_value(
        "continuity_med_threshold_seconds", {**labels, "window": "history"}
    )
    assert threshold is not None
    assert threshold > 0
    assert (
        registry.get_sample_value("continuity_saidi_excl_med_seconds", {**labels, "window": "24h"})
        == 0.0
    )
    assert names <= known_indicator_names()
