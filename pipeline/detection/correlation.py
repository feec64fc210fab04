"""Concurrent disruption: overlapping incidents in one region across operators or sectors.

Incidents of one region are clustered when they overlap in time, allowing a gap of up to
``window_s`` between one ending (or starting) and the next starting. A cluster with at least
``min_incidents`` incidents from at least ``min_operators`` operators *or* ``min_sectors``
sectors is a finding; the incident ids are its evidence.

>>> spans = [Span("i1", "grid.a", "op1", "energy", "UA-30", 0.0, 600.0),
...          Span("i2", "mob.b", "op2", "telecom", "UA-30", 300.0, None)]
>>> [f.incident_ids for f in concurrent_disruptions(spans)]
[('i1', 'i2')]
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Span:
    """The part of an incident correlation needs; ``end`` is None while it is open."""

    incident_id: str
    service_id: str
    operator_id: str
    sector: str
    region: str
    start: float
    end: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "incident_id": self.incident_id,
            "service_id": self.service_id,
            "operator_id": self.operator_id,
            "sector": self.sector,
            "region": self.region,
            "start": self.start,
            "end": self.end,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Span:
        """Inverse of :meth:`to_dict`."""
        return cls(
            d["incident_id"], d["service_id"], d["operator_id"], d["sector"], d["region"],
            float(d["start"]), None if d["end"] is None else float(d["end"]),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Finding:
    """A concurrent disruption; ``finding_id`` is stable as the cluster grows."""

    finding_id: str
    region: str
    start: float
    end: float | None
    incident_ids: tuple[str, ...]
    operators: tuple[str, ...]
    sectors: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "type": "concurrent_disruption",
            "finding_id": self.finding_id,
            "region": self.region,
            "start": self.start,
            "end": self.end,
            "incident_ids": list(self.incident_ids),
            "operators": list(self.operators),
            "sectors": list(self.sectors),
        }


def concurrent_disruptions(
    spans: Iterable[Span],
    window_s: float = 900.0,
    min_incidents: int = 2,
    min_operators: int = 2,
    min_sectors: int = 2,
) -> list[Finding]:
    """All findings among ``spans`` (pure; a sweep per region, O(n log n))."""
    by_region: dict[str, list[Span]] = {}
    for s in spans:
        by_region.setdefault(s.region, []).append(s)
    findings: list[Finding] = []
    for region in sorted(by_region):
        cluster: list[Span] = []
        reach = -math.inf
        for s in sorted(by_region[region], key=lambda s: (s.start, s.incident_id)):
            if cluster and s.start > reach + window_s:
                findings.extend(
                    _finding(region, cluster, min_incidents, min_operators, min_sectors)
                )
                cluster, reach = [], -math.inf
            cluster.append(s)
            reach = max(reach, math.inf if s.end is None else s.end)
        findings.extend(_finding(region, cluster, min_incidents, min_operators, min_sectors))
    return findings


def _finding(
    region: str, cluster: list[Span], min_incidents: int, min_operators: int, min_sectors: int
) -> list[Finding]:
    operators = tuple(sorted({s.operator_id for s in cluster}))
    sectors = tuple(sorted({s.sector for s in cluster}))
    if len(cluster) < min_incidents or (
        len(operators) < min_operators and len(sectors) < min_sectors
    ):
        return []
    ends = [s.end for s in cluster]
    return [
        Finding(
            finding_id=f"cd:{region}:{cluster[0].incident_id}",
            region=region,
            start=cluster[0].start,
            end=None if any(e is None for e in ends) else max(e for e in ends if e is not None),
            incident_ids=tuple(s.incident_id for s in cluster),
            operators=operators,
            sectors=sectors,
        )
    ]


class DisruptionCorrelator:
    """Streaming form: feed incident spans as they open and close, get new/updated findings.

    Keeps only spans that can still join a cluster: closed spans more than ``horizon_s`` older
    than the newest start seen in their region are dropped (bounded memory).
    """

    def __init__(
        self,
        window_s: float = 900.0,
        min_operators: int = 2,
        min_sectors: int = 2,
        horizon_s: float = 86_400.0,
    ) -> None:
        self.window_s = window_s
        self.min_operators = min_operators
        self.min_sectors = min_sectors
        self.horizon_s = horizon_s
        self.spans: dict[str, dict[str, Span]] = {}  # region -> incident id -> span
        self.emitted: dict[str, tuple[str, ...]] = {}  # finding id -> evidence already sent

    def observe(self, span: Span) -> list[Finding]:
        """Record an opened/updated incident; returns findings that are new or grew."""
        region = self.spans.setdefault(span.region, {})
        region[span.incident_id] = span
        newest = max(s.start for s in region.values())
        for iid in [
            i for i, s in region.items() if s.end is not None and s.end < newest - self.horizon_s
        ]:
            del region[iid]
        out = []
        current = concurrent_disruptions(
            region.values(), self.window_s, 2, self.min_operators, self.min_sectors
        )
        for f in current:
            key = (*f.incident_ids, str(f.end))
            if self.emitted.get(f.finding_id) != key:
                self.emitted[f.finding_id] = key
                out.append(f)
        # forget findings of this region whose spans were dropped (bounded memory)
        prefix, live = f"cd:{span.region}:", {f.finding_id for f in current}
        for fid in [k for k in self.emitted if k.startswith(prefix) and k not in live]:
            del self.emitted[fid]
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state."""
        return {
            "window_s": self.window_s,
            "min_operators": self.min_operators,
            "min_sectors": self.min_sectors,
            "horizon_s": self.horizon_s,
            "spans": [s.to_dict() for r in self.spans.values() for s in r.values()],
            "emitted": {k: list(v) for k, v in self.emitted.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DisruptionCorrelator:
        """Inverse of :meth:`to_dict`."""
        c = cls(data["window_s"], data["min_operators"], data["min_sectors"], data["horizon_s"])
        for d in data["spans"]:
            s = Span.from_dict(d)
            c.spans.setdefault(s.region, {})[s.incident_id] = s
        c.emitted = {k: tuple(v) for k, v in data["emitted"].items()}
        return c
