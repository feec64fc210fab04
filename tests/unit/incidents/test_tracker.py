"""Incident lifecycle: one incident per outage, acks, maintenance, state round trips."""

from __future__ import annotations

import itertools
import random

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core.schema import Kind, Observation, Status
from pipeline.detection.consensus import ProbeConsensus
from pipeline.detection.verdict import Verdict
from pipeline.incidents import (
    IncidentEvent,
    IncidentTracker,
    MaintenanceCalendar,
    MaintenanceWindow,
    ServiceRef,
    TrackerParams,
)

REF = ServiceRef("svc", "op", "telecom", "UA-30", customers_served=5_000)


def down(
    at: float, started: float, detector: str = "consensus", customers_affected: int | None = None
) -> Verdict:
    return Verdict("svc", detector, Status.DOWN, at, started, (f"e-{at}",), customers_affected)


def up(at: float, detector: str = "consensus") -> Verdict:
    return Verdict("svc", detector, Status.UP, at, at, (f"u-{at}",))


def kinds(events: list[IncidentEvent]) -> list[str]:
    return [e.kind for e in events]


def test_open_update_restore_and_event_payloads_are_json() -> None:
    tr = IncidentTracker()
    opened = tr.on_verdict(down(100.0, 60.0), REF)
    assert kinds(opened) == ["detected"]
    inc = opened[0].incident
    assert (inc.incident_id, inc.started_at, inc.detected_at) == ("svc/60", 60.0, 100.0)
    assert kinds(tr.on_verdict(down(130.0, 50.0, "level_drop", customers_affected=900), REF)) == [
        "updated"
    ]
    assert tr.on_verdict(down(100.0, 60.0), REF) == []  # same verdict again: nothing new
    restored = tr.on_verdict(up(400.0, "level_drop"), REF) + tr.on_verdict(up(420.0), REF)
    assert kinds(restored) == ["restored"]
    final = restored[0].incident
    assert final.restored_at == 420.0
    assert final.customers_affected == 900
    assert final.detectors == ["consensus", "level_drop"]
    payload = orjson.loads(orjson.dumps(restored[0].to_dict()))
    assert payload["event"] == "restored"
    assert payload["incident"]["restored_at"] == 420.0


def test_unknown_and_unasserted_clears_are_ignored() -> None:
    tr = IncidentTracker()
    assert tr.on_verdict(Verdict("svc", "silence", Status.UNKNOWN, 1.0, 1.0), REF) == []
    assert tr.on_verdict(up(5.0), REF) == []
    assert tr.incidents() == []


def test_flapping_reopens_instead_of_duplicating() -> None:
    tr = IncidentTracker(params=TrackerParams(reopen_grace_s=300.0))
    tr.on_verdict(down(100.0, 60.0), REF)
    tr.on_verdict(up(200.0), REF)
    assert kinds(tr.on_verdict(down(400.0, 380.0), REF)) == ["reopened"]
    tr.on_verdict(up(500.0), REF)
    incs = tr.incidents()
    assert len(incs) == 1
    assert (incs[0].started_at, incs[0].restored_at, incs[0].reopened) == (60.0, 500.0, 1)
    # beyond the grace period a new outage is a new incident
    assert kinds(tr.on_verdict(down(2000.0, 1000.0), REF)) == ["detected"]
    assert len(tr.incidents()) == 2


def test_late_verdict_for_a_restored_outage_never_opens_a_second_incident() -> None:
    tr = IncidentTracker(params=TrackerParams(reopen_grace_s=0.0))
    tr.on_verdict(down(100.0, 60.0), REF)
    tr.on_verdict(up(200.0), REF)
    late = tr.on_verdict(down(150.0, 70.0, "silence"), REF)  # evidence from during the outage
    assert kinds(late) == ["reopened"]
    tr.on_verdict(up(210.0, "silence"), REF)
    assert len(tr.incidents()) == 1
    assert tr.incidents()[0].restored_at == 210.0


def test_duplicated_and_shuffled_probes_make_exactly_one_incident() -> None:
    rng = random.Random(3)
    probes = [
        (60.0 * r + 7.0 * j, v, not (20 <= r < 30), f"{r}-{v}")
        for r in range(60)
        for j, v in enumerate(("a", "b", "c", "d"))
    ]
    stream = []
    for r in range(60):  # duplicates + disorder inside a bounded lateness of one round
        chunk = probes[4 * r : 4 * r + 4] + rng.sample(probes[max(0, 4 * r - 4) : 4 * r + 4], 3)
        rng.shuffle(chunk)
        stream.extend(chunk)
    pc, tr = ProbeConsensus("svc"), IncidentTracker()
    for p in stream:
        v = pc.observe(*p)
        if v is not None:
            tr.on_verdict(v, REF)
    incs = tr.incidents()
    assert len(incs) == 1
    assert incs[0].started_at == 1200.0
    assert incs[0].restored_at == 1800.0


def test_acknowledge_by_api_and_by_operator_status_report() -> None:
    tr = IncidentTracker()
    assert tr.acknowledge("svc", 10.0) == []  # nothing open
    tr.on_verdict(down(100.0, 60.0), REF)
    acked = tr.acknowledge("svc", 150.0, "cli", "alice")
    assert kinds(acked) == ["acknowledged"]
    assert acked[0].incident.ack_method == "cli"
    assert tr.acknowledge("svc", 160.0) == []  # once only
    tr.on_verdict(up(200.0), REF)
    tr.on_verdict(down(2000.0, 1900.0), REF)
    report = Observation(
        "r1", "op", "svc", "telecom", "UA-30", Kind.STATUS_REPORT, 2100.0, "statuspage",
        status=Status.DOWN, customers_affected=1200, attrs={"users_affected": 40_000},
    )  # fmt: skip
    events = tr.on_status_report(report)
    assert kinds(events) == ["acknowledged"]
    inc = events[0].incident
    assert (inc.ack_method, inc.operator_status, inc.acknowledged_at) == (
        "status_report",
        "down",
        2100.0,
    )
    assert (inc.customers_affected, inc.users_affected) == (1200, 40_000)


def test_maintenance_suppresses_and_is_reported_separately() -> None:
    cal = MaintenanceCalendar([MaintenanceWindow("svc", 1000.0, 2000.0, "upgrade")])
    tr = IncidentTracker(cal)
    events = tr.on_verdict(down(1100.0, 1050.0), REF)
    assert kinds(events) == ["maintenance_outage_started"]
    assert kinds(tr.tick(1500.0)) == []
    assert kinds(tr.on_verdict(up(1600.0), REF)) == ["maintenance_outage_ended"]
    incs = tr.incidents()
    assert [i.maintenance for i in incs] == [True]
    assert incs[0].restored_at == 1600.0


def test_outage_overrunning_maintenance_becomes_an_incident_at_the_window_end() -> None:
    cal = MaintenanceCalendar([MaintenanceWindow("svc", 1000.0, 2000.0)])
    tr = IncidentTracker(cal)
    tr.on_verdict(down(1100.0, 1050.0), REF)
    events = tr.tick(2010.0)
    assert kinds(events) == ["maintenance_outage_ended", "detected"]
    real = events[1].incident
    assert (real.started_at, real.detected_at, real.maintenance) == (2000.0, 2010.0, False)
    assert kinds(tr.on_verdict(up(2500.0), REF)) == ["restored"]
    assert [(i.maintenance, i.started_at, i.restored_at) for i in tr.incidents()] == [
        (True, 1050.0, 2000.0),
        (False, 2000.0, 2500.0),
    ]


def test_state_round_trip_mid_outage_recovers_the_open_incident() -> None:
    cal = MaintenanceCalendar()
    tr = IncidentTracker(cal)
    tr.on_verdict(down(100.0, 60.0), REF)
    tr.on_verdict(down(120.0, 90.0, "silence"), REF)
    state = orjson.loads(orjson.dumps(tr.to_dict()))
    again = IncidentTracker.from_dict(state, cal)
    assert again.to_dict() == tr.to_dict()
    assert again.on_verdict(up(300.0), REF) == []  # silence still asserts
    assert kinds(again.on_verdict(up(310.0, "silence"), REF)) == ["restored"]


def test_closed_incidents_are_bounded() -> None:
    tr = IncidentTracker(params=TrackerParams(reopen_grace_s=0.0, max_closed=3))
    for k in range(6):
        tr.on_verdict(down(1000.0 * k + 10, 1000.0 * k + 1), REF)
        tr.on_verdict(up(1000.0 * k + 500), REF)
    assert len(tr.incidents()) == 3


def test_maintenance_window_must_end_after_it_starts() -> None:
    with pytest.raises(ValueError, match="ends before"):
        MaintenanceWindow("svc", 10.0, 10.0)


def test_an_earlier_first_failure_from_another_detector_moves_started_at() -> None:
    tr = IncidentTracker()
    tr.on_verdict(down(100.0, 60.0), REF)
    events = tr.on_verdict(down(110.0, 40.0, "silence"), REF)
    assert kinds(events) == ["updated"]
    assert events[0].incident.started_at == 40.0
    assert events[0].incident.incident_id == "svc/60"  # ids are stable


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["consensus", "silence", "level_drop"]),
            st.booleans(),
            st.floats(0.0, 5_000.0),
            st.floats(0.0, 600.0),
        ),
        max_size=40,
    )
)
def test_any_verdict_sequence_keeps_incidents_disjoint_and_ordered(
    steps: list[tuple[str, bool, float, float]],
) -> None:
    cal = MaintenanceCalendar([MaintenanceWindow("svc", 2_000.0, 2_500.0)])
    tr = IncidentTracker(cal)
    for detector, failing, at, lag in steps:
        state = Status.DOWN if failing else Status.UP
        started = at - lag if failing else at
        tr.on_verdict(Verdict("svc", detector, state, at, started), REF)
        tr.tick(at)
    incs = tr.incidents()
    real = [i for i in incs if not i.maintenance]
    assert sum(1 for i in real if i.is_open) <= 1
    for i in incs:
        assert i.restored_at is None or i.restored_at >= i.started_at
        assert i.detected_at >= i.started_at
    spans = sorted((i.started_at, i.end_or(10_000.0)) for i in real)
    assert all(b[0] >= a[1] for a, b in itertools.pairwise(spans))  # no minute counted twice
