"""Level drop respects daily seasonality: an evening fleet reduction opens nothing, an
outage at any hour still does (issue 14, class 3)."""

from __future__ import annotations

import math

import numpy as np
import orjson

from pipeline.core.schema import Status
from pipeline.detection.level_drop import LevelDrop

DAY = 86_400.0


def fleet(at: float) -> float:
    """Vehicles in service: 800 by day, a steep evening fall to 120 (20:00-23:30 UTC)."""
    hour = (at % DAY) / 3600.0
    if 6.0 <= hour < 20.0:
        return 800.0
    if 20.0 <= hour < 23.5:
        return 120.0 + 680.0 * 0.5 * (1 + math.cos(math.pi * (hour - 20.0) / 3.5))
    if 4.0 <= hour < 6.0:
        return 120.0 + 680.0 * 0.5 * (1 - math.cos(math.pi * (hour - 4.0) / 2.0))
    return 120.0


def run(days: float, outage: tuple[float, float] | None = None) -> list[tuple[float, Status]]:
    rng = np.random.default_rng(3)
    ld = LevelDrop("svc")
    out = []
    for i in range(int(days * DAY / 60.0)):
        at = 60.0 * i
        value = fleet(at) * (1 + rng.normal(0, 0.02))
        if outage and outage[0] <= at < outage[1]:
            value *= 0.05
        verdict = ld.observe(at, round(value), f"e{i}")
        if verdict is not None:
            out.append((at, verdict.state))
    assert LevelDrop.from_dict(orjson.loads(orjson.dumps(ld.to_dict()))).to_dict() == ld.to_dict()
    return out


def test_a_daily_evening_fall_opens_nothing_on_any_day() -> None:
    assert run(3.0) == []


def test_an_outage_in_the_evening_fall_is_still_detected() -> None:
    start = DAY + 21.5 * 3600.0
    verdicts = run(2.0, (start, start + 1800.0))
    assert [s for _, s in verdicts] == [Status.DOWN, Status.UP]
    assert start <= verdicts[0][0] <= start + 180.0
