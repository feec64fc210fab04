"""Level drop and silence detectors."""

from __future__ import annotations

import orjson
import pytest

from pipeline.core.schema import Status
from pipeline.detection.level_drop import LevelDrop, LevelDropParams
from pipeline.detection.silence import SilenceDetector


def warm(ld: LevelDrop, n: int = 20, value: float = 1000.0) -> None:
    for i in range(n):
        assert ld.observe(60.0 * i, value, f"w{i}") is None


def test_warning_then_critical_then_recovery_with_confirmation() -> None:
    ld = LevelDrop("svc")
    warm(ld)
    assert ld.observe(1200.0, 700.0, "a") is None  # one sample is not enough
    warning = ld.observe(1260.0, 700.0, "b")
    assert warning is not None
    assert warning.state is Status.DEGRADED
    assert warning.started_at == 1200.0
    assert warning.customers_affected == 300
    assert ld.observe(1320.0, 100.0, "c") is None
    critical = ld.observe(1380.0, 100.0, "d")
    assert critical is not None
    assert critical.state is Status.DOWN
    assert ld.observe(1440.0, 990.0, "e") is None
    up = ld.observe(1500.0, 1000.0, "f")
    assert up is not None
    assert up.state is Status.UP
    assert up.started_at == 1440.0


def test_an_outage_does_not_drag_the_baseline_down() -> None:
    ld = LevelDrop("svc", LevelDropParams(window=10, min_history=5))
    warm(ld, 10)
    for i in range(50):
        ld.observe(1000.0 + 60.0 * i, 100.0, f"o{i}")
    assert ld.state is Status.DOWN
    assert ld.classify(100.0) is Status.DOWN


def test_lasting_change_becomes_normal_after_max_frozen() -> None:
    ld = LevelDrop("svc", LevelDropParams(window=10, min_history=5, max_frozen=20))
    warm(ld, 10)
    for i in range(60):
        ld.observe(1000.0 + 60.0 * i, 300.0, f"o{i}")
    assert ld.state is Status.UP


def test_level_drop_ignores_late_points_and_round_trips() -> None:
    ld = LevelDrop("svc")
    warm(ld)
    assert ld.observe(0.0, 0.0, "late") is None
    ld.observe(1200.0, 100.0, "x")
    copy = LevelDrop.from_dict(orjson.loads(orjson.dumps(ld.to_dict())))
    assert copy.observe(1260.0, 100.0, "y") == ld.observe(1260.0, 100.0, "y")


def test_silence_unknown_then_down_then_up() -> None:
    sd = SilenceDetector("svc", interval_s=30.0)
    assert sd.check(1000.0) is None  # never seen: nothing to say
    sd.observe(0.0, "hb0")
    assert sd.check(59.0) is None
    unknown = sd.check(60.0)
    assert unknown is not None
    assert unknown.state is Status.UNKNOWN
    down = sd.check(95.0)
    assert down is not None
    assert (down.state, down.at, down.started_at) == (Status.DOWN, 90.0, 30.0)
    assert sd.check(200.0) is None  # no repeated verdicts
    assert sd.observe(-5.0, "late") is None
    up = sd.observe(210.0, "hb1")
    assert up is not None
    assert up.state is Status.UP


def test_silence_round_trip_and_bad_parameters() -> None:
    sd = SilenceDetector("svc", 10.0)
    sd.observe(0.0, "a")
    copy = SilenceDetector.from_dict(orjson.loads(orjson.dumps(sd.to_dict())))
    assert copy.check(40.0) == sd.check(40.0)
    with pytest.raises(ValueError, match="unknown_after"):
        SilenceDetector("svc", 10.0, unknown_after=4.0, down_after=3.0)
