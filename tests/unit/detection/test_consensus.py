"""Probe consensus: corroboration, leave-one-out, hysteresis, baselines, duplicates, state."""

from __future__ import annotations

import random

import orjson
import pytest

from pipeline.core.schema import Status
from pipeline.detection.consensus import ConsensusParams, ProbeConsensus, binomial_tail
from pipeline.detection.vantage import VantageHealth
from pipeline.detection.verdict import Verdict

VANTAGES = ("fra", "waw", "ams", "kyiv")
ALL_OK = dict.fromkeys(VANTAGES, True)
ALL_FAIL = dict.fromkeys(VANTAGES, False)


def feed_round(
    pc: ProbeConsensus, r: int, ok: dict[str, bool], impaired: frozenset[str] = frozenset()
) -> list[Verdict]:
    """One probe per vantage in round ``r``, staggered 10 s apart."""
    out = []
    for j, v in enumerate(VANTAGES):
        verdict = pc.observe(60.0 * r + 10.0 * j, v, ok.get(v, True), f"{r}-{v}", impaired)
        if verdict is not None:
            out.append(verdict)
    return out


def warmed(rounds: int = 10) -> ProbeConsensus:
    pc = ProbeConsensus("svc")
    for r in range(rounds):
        assert feed_round(pc, r, ALL_OK) == []
    return pc


def test_binomial_tail_is_exact_up_to_a_conservative_grid() -> None:
    # P(X >= 2) for n=3, p=0.1 = 3 * 0.01 * 0.9 + 0.001 = 0.028; p is rounded up <= 2 %
    assert 0.028 <= binomial_tail(2, 3, 0.1) <= 0.028 * 1.05
    assert binomial_tail(0, 5, 0.3) == 1.0


def test_new_service_does_not_page_on_a_single_failure() -> None:
    pc = ProbeConsensus("svc")
    assert pc.observe(0.0, "fra", False, "e1") is None
    assert pc.observe(10.0, "waw", True, "e2") is None
    assert not pc.down


def test_one_broken_vantage_never_opens_however_often_it_fails() -> None:
    pc = warmed()
    verdicts = [v for r in range(10, 60) for v in feed_round(pc, r, {"kyiv": False})]
    assert verdicts == []


def test_two_clean_vantages_failing_once_is_not_enough() -> None:
    pc = warmed(50)
    assert feed_round(pc, 50, {"fra": False, "waw": False}) == []


def test_full_outage_opens_within_one_interval_and_closes_after_two_good_rounds() -> None:
    pc = warmed()
    opened = feed_round(pc, 10, ALL_FAIL)
    assert [v.state for v in opened] == [Status.DOWN]
    assert opened[0].started_at == 600.0  # first failing probe
    assert opened[0].at in (620.0, 630.0)  # corroborated by the third or fourth vantage
    assert set(opened[0].evidence_ids) <= {"10-fra", "10-waw", "10-ams", "10-kyiv"}
    assert feed_round(pc, 11, ALL_FAIL) == []
    assert feed_round(pc, 12, ALL_OK) == []
    closed = feed_round(pc, 13, ALL_OK)
    assert [v.state for v in closed] == [Status.UP]
    assert 720.0 <= closed[0].started_at <= 750.0  # within the first good interval
    assert feed_round(pc, 14, ALL_OK) == []  # the closed outage cannot reopen itself


def test_partial_outage_accumulates_evidence_over_intervals() -> None:
    pc = warmed()
    half = {"fra": False, "waw": True, "ams": False, "kyiv": True}
    other = {"fra": True, "waw": False, "ams": True, "kyiv": False}
    got = feed_round(pc, 10, half) + feed_round(pc, 11, other) + feed_round(pc, 12, half)
    assert [v.state for v in got] == [Status.DOWN]


def test_one_success_during_outage_does_not_close() -> None:
    pc = warmed()
    assert feed_round(pc, 10, ALL_FAIL)
    for r in range(11, 20):
        assert feed_round(pc, r, {"fra": True, "waw": False, "ams": False, "kyiv": False}) == []
    assert pc.down


def test_impaired_vantages_are_ignored() -> None:
    pc = warmed()
    bad = frozenset({"kyiv", "ams"})
    two_dark = {"kyiv": False, "ams": False}
    assert [v for r in range(10, 20) for v in feed_round(pc, r, two_dark, bad)] == []
    assert not pc.down


def test_vantage_health_flags_a_vantage_failing_for_most_services_only() -> None:
    vh = VantageHealth()
    for i in range(30):
        vh.observe(float(i), "kyiv", False)
        vh.observe(float(i), "fra", True)
        vh.observe(float(i), "waw", i % 10 != 0)
    assert vh.impaired(30.0) == frozenset({"kyiv"})
    wide = VantageHealth()  # everything fails: a wide outage, not a vantage problem
    for i in range(30):
        for v in VANTAGES:
            wide.observe(float(i), v, False)
    assert wide.impaired(30.0) == frozenset()
    restored = VantageHealth.from_dict(orjson.loads(orjson.dumps(vh.to_dict())))
    assert restored.impaired(31.0) == vh.impaired(31.0)


def test_duplicates_and_out_of_order_probes_do_not_change_the_outcome() -> None:
    rng = random.Random(7)
    events = [
        (60.0 * r + 10.0 * j, v, r < 8 or r > 12, f"{r}-{v}")
        for r in range(20)
        for j, v in enumerate(VANTAGES)
    ]
    straight = ProbeConsensus("svc")
    ref = [v.state for e in events if (v := straight.observe(*e))]
    noisy: list[tuple[float, str, bool, str]] = []
    for r in range(20):  # disorder inside a round, every probe delivered twice
        chunk = events[4 * r : 4 * r + 4] * 2
        rng.shuffle(chunk)
        noisy.extend(chunk)
    pc = ProbeConsensus("svc")
    got = [v.state for e in noisy if (v := pc.observe(*e))]
    assert got == ref == [Status.DOWN, Status.UP]


def test_probe_older_than_the_kept_history_is_ignored() -> None:
    pc = warmed()
    for v in VANTAGES:
        assert pc.observe(1.0, v, False, f"late-{v}") is None
    assert not pc.down


def test_baseline_is_learned_per_vantage_and_not_from_outages() -> None:
    pc = ProbeConsensus("svc", ConsensusParams(memory=1_000.0))
    prior = pc.baseline("ams")
    for r in range(800):
        feed_round(pc, r, {"ams": r % 4 != 0})  # ams fails a quarter of the time
    assert pc.baseline("ams") == pytest.approx(0.25, rel=0.2)
    assert pc.baseline("fra") < prior
    learned = pc.baseline("ams")
    for r in range(800, 830):
        feed_round(pc, r, ALL_FAIL)
    assert pc.down
    assert pc.baseline("ams") == pytest.approx(learned, rel=0.05)


def test_state_round_trip_mid_outage_gives_the_same_future() -> None:
    a = warmed(6)
    feed_round(a, 6, ALL_FAIL)
    b = ProbeConsensus.from_dict(orjson.loads(orjson.dumps(a.to_dict())))
    for r in range(7, 12):
        ok = ALL_FAIL if r < 9 else ALL_OK
        assert feed_round(a, r, ok) == feed_round(b, r, ok)
    assert a.to_dict() == b.to_dict()


def test_vantage_health_catches_two_broken_vantages_at_once() -> None:
    vh = VantageHealth()
    for i in range(40):
        for v in ("kyiv", "ams"):
            vh.observe(float(i), v, False)
        vh.observe(float(i), "fra", True)
        vh.observe(float(i), "waw", i % 15 != 0)
    assert vh.impaired(40.0) == frozenset({"kyiv", "ams"})
