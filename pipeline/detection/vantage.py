"""Vantage health: is a probing location itself broken?

A vantage whose probes fail for most of the services it probes, while the other vantages
see those services fine, has a problem of its own (its uplink, DNS, the probe host). Its
results are then evidence about the vantage, not about the services, and
:class:`~pipeline.detection.consensus.ProbeConsensus` ignores them while it is impaired.

Counts are kept per vantage in buckets of ``bucket_s`` (event time): O(1) work per probe and
O(vantages) memory. A worker that only sees some partitions still sees a random sample of
services, so the shares it computes are representative.

>>> vh = VantageHealth()
>>> for i in range(20):
...     vh.observe(10.0 + i, "kyiv", False)
...     vh.observe(10.0 + i, "fra", True)
>>> sorted(vh.impaired(30.0))
['kyiv']
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from pipeline.core.flat import flat_dict


@dataclass(frozen=True, slots=True)
class VantageParams:
    """bucket_s / buckets: the sliding window (2 x 60 s); min_results: results a vantage
    needs in the window to be judged; impaired_share: its failure share that marks it
    impaired; others_max_share: ... provided the healthiest other vantage fails less than
    this (when every vantage fails a lot it is a wide outage, not the vantages; several
    vantages broken at once are all caught, as long as one still works); recheck_s: the
    verdict is recomputed at most this often (event time), so a busy worker pays O(1) per
    probe."""

    bucket_s: float = 60.0
    buckets: int = 2
    min_results: int = 5
    impaired_share: float = 0.5
    others_max_share: float = 0.2
    recheck_s: float = 2.0


class VantageHealth:
    """Failure shares per vantage over a short sliding window."""

    def __init__(self, params: VantageParams | None = None) -> None:
        self.params = params or VantageParams()
        self.counts: dict[str, dict[int, list[int]]] = {}  # vantage -> bucket -> [n, fails]
        self._cache: tuple[float, frozenset[str]] | None = None  # derived, not state

    def observe(self, at: float, vantage: str, ok: bool) -> None:
        """Count one probe result (duplicates should be dropped before)."""
        # once per probe: no list built unless a bucket is new, none scanned unless one aged
        b = math.floor(at / self.params.bucket_s)
        per = self.counts.get(vantage)
        if per is None:
            per = self.counts[vantage] = {}
        c = per.get(b)
        if c is None:
            per[b] = [1, 0 if ok else 1]
        else:
            c[0] += 1
            if not ok:
                c[1] += 1
        oldest_kept = b - self.params.buckets
        if min(per) < oldest_kept:
            for old in [k for k in per if k < oldest_kept]:
                del per[old]

    def _totals(self, at: float) -> dict[str, tuple[int, int]]:
        b = math.floor(at / self.params.bucket_s)
        lo = b - self.params.buckets + 1
        out = {}
        for v, per in self.counts.items():
            n = sum(c[0] for k, c in per.items() if lo <= k <= b)
            f = sum(c[1] for k, c in per.items() if lo <= k <= b)
            out[v] = (n, f)
        return out

    def impaired(self, at: float) -> frozenset[str]:
        """Vantages judged broken at event time ``at``."""
        p = self.params
        if self._cache is not None and 0.0 <= at - self._cache[0] < p.recheck_s:
            return self._cache[1]
        found = self._compute(at)
        self._cache = (at, found)
        return found

    def _compute(self, at: float) -> frozenset[str]:
        p = self.params
        shares = {v: f / n for v, (n, f) in self._totals(at).items() if n >= p.min_results}
        out = set()
        for v, share in shares.items():
            others = [s for u, s in shares.items() if u != v]
            # the healthiest other vantage sees the services fine: the problem is this vantage
            if share >= p.impaired_share and others and min(others) < p.others_max_share:
                out.add(v)
        return frozenset(out)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state."""
        return {
            "params": flat_dict(self.params),
            "counts": {
                v: {str(k): list(c) for k, c in per.items()} for v, per in self.counts.items()
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VantageHealth:
        """Inverse of :meth:`to_dict`."""
        vh = cls(VantageParams(**data["params"]))
        vh.counts = {
            v: {int(k): [int(c[0]), int(c[1])] for k, c in per.items()}
            for v, per in data["counts"].items()
        }
        return vh
