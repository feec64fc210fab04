"""The in-place status step (the worker's) gives what the copying one gives, step by step."""

from __future__ import annotations

import random
from dataclasses import replace

from pipeline.bench.data import ObservationMix, service_ref
from pipeline.core.schema import Kind, Observation, Status
from pipeline.monitoring.status import ServiceState, SilencePolicy, StatusTracker

START = 1_700_000_000.0


def _mix(seed: int) -> list[Observation]:
    """Every kind, duplicates, evidence out of order (stale and too late), pushes and probes."""
    rng = random.Random(seed)
    mix = ObservationMix(4, seed=seed)
    refs = [service_ref(i) for i in range(4)]
    out: list[Observation] = []
    for i in range(1_500):
        ref = refs[rng.randrange(4)]
        at = START + i * 7.0 - rng.choice([0.0, 0.0, 0.0, 30.0, 400.0])  # some late
        kind = rng.choice([None, Kind.PROBE, Kind.HEARTBEAT, Kind.STATUS_REPORT])
        status = rng.choice([None, Status.UP, Status.DOWN, Status.DEGRADED, Status.UNKNOWN])
        obs = mix.observation(
            ref, event_id=f"e{i}", observed_at=at, kind=kind, status=status if kind else None
        )
        if rng.random() < 0.1:
            obs = replace(obs, attrs={"expected_interval_s": 30})
        out.append(obs)
        if rng.random() < 0.05:
            out.append(obs)  # redelivered
    return out


def test_in_place_matches_the_copying_step() -> None:
    tracker = StatusTracker(SilencePolicy(default_interval=60.0))
    for seed in (1, 2, 3):
        copied: dict[str, ServiceState] = {}
        updated: dict[str, ServiceState] = {}
        outcomes: set[str] = set()
        for step, obs in enumerate(_mix(seed)):
            now = obs.observed_at + 2.0
            asserts = obs.kind is not Kind.PROBE
            key = obs.service_id
            before = copied.get(key)
            snapshot = before.to_dict() if before else None
            a, change_a, outcome_a = tracker.observe(
                before, obs, partition=1, asserts=asserts, now=now
            )
            b, change_b, outcome_b = tracker.observe(
                updated.get(key), obs, partition=1, asserts=asserts, now=now, in_place=True
            )
            assert (outcome_a, change_a) == (outcome_b, change_b), step
            assert a.to_dict() == b.to_dict(), step
            assert list(a.signals) == list(b.signals), step  # the stored order too
            if before is not None:
                assert before.to_dict() == snapshot  # the copying step leaves it alone
                assert b is updated[key]  # the in-place one returns the state it was given
            copied[key], updated[key] = a, b
            outcomes.add(outcome_a)
            if step % 97 == 0:  # silence in between: the in-place state is still checked alike
                later = obs.observed_at + 1_000.0
                copied[key], silent_a = tracker.check_silence(copied[key], now=later)
                updated[key], silent_b = tracker.check_silence(updated[key], now=later)
                assert silent_a == silent_b
        assert outcomes == {"applied", "duplicate", "late", "stale"}
