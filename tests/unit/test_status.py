from __future__ import annotations

import pytest

from pipeline.core.schema import Kind, Status
from pipeline.monitoring import id_ring
from pipeline.monitoring.status import (
    Outcome,
    ServiceState,
    SilencePolicy,
    StatusTracker,
    status_from_observation,
)
from tests.support.observations import make_obs

T0 = 1_700_000_000.0


@pytest.fixture
def tracker() -> StatusTracker:
    return StatusTracker(SilencePolicy(default_interval=60.0, lateness_allowance=300.0))


def fold(tracker: StatusTracker, *observations: object) -> tuple[ServiceState, list[Status]]:
    """Apply observations in order; return the final state and the statuses changed to."""
    state: ServiceState | None = None
    changes: list[Status] = []
    for obs in observations:
        state, change, _ = tracker.observe(state, obs, partition=0)  # type: ignore[arg-type]
        if change is not None:
            changes.append(change.current)
    assert state is not None
    return state, changes


def test_first_evidence_sets_status(tracker: StatusTracker) -> None:
    state, changes = fold(tracker, make_obs(status=Status.DOWN))
    assert state.status is Status.DOWN
    assert changes == [Status.DOWN]


def test_outage_and_restoration(tracker: StatusTracker) -> None:
    state, changes = fold(
        tracker,
        make_obs(at=T0, status=Status.UP),
        make_obs(at=T0 + 60, status=Status.DOWN),
        make_obs(at=T0 + 120, status=Status.DOWN),
        make_obs(at=T0 + 180, status=Status.UP),
    )
    assert changes == [Status.UP, Status.DOWN, Status.UP]
    assert state.since == T0 + 180


def test_duplicate_event_id_is_dropped(tracker: StatusTracker) -> None:
    state, _ = fold(tracker, make_obs(at=T0, status=Status.UP, event_id="a"))
    again, change, outcome = tracker.observe(
        state, make_obs(at=T0 + 10, status=Status.DOWN, event_id="a"), partition=0
    )
    assert (again, change, outcome) == (state, None, Outcome.DUPLICATE)


def test_out_of_order_evidence_does_not_override_newer(tracker: StatusTracker) -> None:
    state, _ = fold(tracker, make_obs(at=T0 + 100, status=Status.UP))
    new, change, outcome = tracker.observe(
        state, make_obs(at=T0 + 50, status=Status.DOWN), partition=0
    )
    assert change is None
    assert outcome == Outcome.STALE
    assert new.status is Status.UP


def test_evidence_beyond_lateness_allowance_is_late(tracker: StatusTracker) -> None:
    state, _ = fold(tracker, make_obs(at=T0 + 1000, status=Status.UP))
    _, change, outcome = tracker.observe(state, make_obs(at=T0, status=Status.DOWN), partition=0)
    assert (change, outcome) == (None, Outcome.LATE)


def test_silence_turns_unknown_then_down_at_the_deadlines(tracker: StatusTracker) -> None:
    state, _ = fold(tracker, make_obs(at=T0, status=Status.UP, attrs={"expected_interval_s": 10}))
    assert tracker.silence_deadline(state) == T0 + 20
    _, change = tracker.check_silence(state, now=T0 + 19)
    assert change is None
    unknown, change = tracker.check_silence(state, now=T0 + 25)
    assert change is not None
    assert (change.current, change.at, change.reason) == (Status.UNKNOWN, T0 + 20, "silence")
    down, change = tracker.check_silence(unknown, now=T0 + 41)
    assert change is not None
    assert (change.current, change.at) == (Status.DOWN, T0 + 40)
    assert tracker.check_silence(down, now=T0 + 500)[1] is None


def test_silence_jumps_straight_to_down_when_long_quiet(tracker: StatusTracker) -> None:
    state, _ = fold(tracker, make_obs(at=T0, status=Status.UP))
    _, change = tracker.check_silence(state, now=T0 + 3600)
    assert change is not None
    assert change.previous is Status.UP
    assert change.current is Status.DOWN


def test_liveness_after_silence_restores_up(tracker: StatusTracker) -> None:
    state, _ = fold(tracker, make_obs(at=T0, status=Status.UP))
    unknown, _ = tracker.check_silence(state, now=T0 + 130)
    assert unknown.status is Status.UNKNOWN
    back, change, _ = tracker.observe(
        unknown, make_obs(at=T0 + 140, kind=Kind.KPI, status=None, value=1.0), partition=0
    )
    assert change is not None
    assert back.status is Status.UP


def test_maintenance_is_not_silenced(tracker: StatusTracker) -> None:
    state, _ = fold(tracker, make_obs(at=T0, status=Status.MAINTENANCE))
    assert tracker.silence_deadline(state) is None
    assert tracker.check_silence(state, now=T0 + 10_000)[1] is None


@pytest.mark.parametrize(
    ("affected", "served", "expected"),
    [
        (0, 100, Status.UP),
        (40, 100, Status.DEGRADED),
        (100, 100, Status.DOWN),
        (5, None, Status.DEGRADED),
    ],
)
def test_outage_report_status_from_customer_counts(
    affected: int, served: int | None, expected: Status
) -> None:
    obs = make_obs(
        kind=Kind.OUTAGE_REPORT, status=None, customers_affected=affected, customers_served=served
    )
    assert status_from_observation(obs) is expected


def test_state_survives_a_dict_round_trip(tracker: StatusTracker) -> None:
    state, _ = fold(
        tracker, make_obs(status=Status.DEGRADED, customers_served=5, customers_affected=2)
    )
    assert ServiceState.from_dict(state.to_dict()) == state


def test_recent_event_ids_are_bounded(tracker: StatusTracker) -> None:
    observations = [make_obs(at=T0 + i, status=Status.UP) for i in range(100)]
    state, _ = fold(tracker, *observations)
    assert id_ring.count(state.recent_id_hashes) == 32
    remembered = [
        id_ring.seen(state.recent_id_hashes, id_ring.digest(o.event_id)) for o in observations
    ]
    assert remembered == [False] * 68 + [True] * 32


def test_to_dict_names_every_field() -> None:
    from dataclasses import fields

    full = ServiceState(
        "s", "o", "energy", "UA", Status.UP, 1.0, 2.0, 60.0, 3,
        customers_served=5, customers_affected=1, recent_id_hashes=id_ring.digest("e"),
        reason="silence", signals={"k": 1.0}, asserted_at=1.0, last_alive_at=2.0,
        pushes=True, declared_interval=30.0, learned_interval=40.0, delivery_lag=3.0,
    )  # fmt: skip
    assert set(full.to_dict()) == {f.name for f in fields(ServiceState)}
    assert ServiceState.from_dict(full.to_dict()) == full


def test_fields_at_their_default_are_left_out_of_the_record() -> None:
    state = ServiceState("s", "o", "energy", "UA", Status.UP, 1.0, 2.0, 60.0, 3)
    assert set(state.to_dict()) == {
        "service_id", "operator_id", "sector", "region", "status", "since",
        "last_evidence_at", "expected_interval", "partition", "recent_id_hashes", "signals",
    }  # fmt: skip
    assert ServiceState.from_dict(state.to_dict()) == state
