"""Small numeric helpers shared by the indicators: intervals and summaries.

>>> merged_length([(0.0, 10.0), (5.0, 15.0), (20.0, 25.0)], 0.0, 22.0)
17.0
>>> summarise([1.0, 2.0, 3.0, 4.0]).p50
2.5
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

Interval = tuple[float, float]


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Union of intervals as sorted, disjoint intervals (so overlaps are never counted twice)."""
    out: list[Interval] = []
    for s, e in sorted(i for i in intervals if i[1] > i[0]):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def clip(intervals: Iterable[Interval], start: float, end: float) -> list[Interval]:
    """Intervals cut to ``[start, end)``; empty pieces dropped."""
    return [(max(s, start), min(e, end)) for s, e in intervals if min(e, end) > max(s, start)]


def merged_length(intervals: Iterable[Interval], start: float, end: float) -> float:
    """Length of the union of ``intervals`` inside ``[start, end)``."""
    return sum(e - s for s, e in merge(clip(intervals, start, end)))


def subtract(intervals: Iterable[Interval], holes: Iterable[Interval]) -> list[Interval]:
    """``intervals`` minus ``holes`` (both merged first)."""
    out: list[Interval] = []
    hs = merge(holes)
    for s, e in merge(intervals):
        cur = s
        for hs_, he in hs:
            if he <= cur or hs_ >= e:
                continue
            if hs_ > cur:
                out.append((cur, hs_))
            cur = max(cur, he)
        if cur < e:
            out.append((cur, e))
    return out


def percentile(values: Sequence[float], q: float) -> float:
    """Percentile with linear interpolation between order statistics (numpy's default)."""
    if not values:
        return math.nan
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


@dataclass(frozen=True, slots=True)
class Summary:
    """count, mean, p50 and p90 of a sample (NaN when empty)."""

    count: int
    mean: float
    p50: float
    p90: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (NaN becomes None)."""
        return {
            k: (None if isinstance(v, float) and math.isnan(v) else v)
            for k, v in (("count", self.count), ("mean", self.mean), ("p50", self.p50),
                         ("p90", self.p90))
        }  # fmt: skip


def summarise(values: Sequence[float]) -> Summary:
    """Mean, p50, p90 of ``values``."""
    if not values:
        return Summary(0, math.nan, math.nan, math.nan)
    return Summary(
        len(values), sum(values) / len(values), percentile(values, 50), percentile(values, 90)
    )
