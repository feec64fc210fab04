"""Canonical observations for benchmarks: a realistic mix over the four sectors.

Built with :class:`~pipeline.core.schema.Observation` and valid per :mod:`pipeline.core.validation`.

>>> mix = ObservationMix(services=40, seed=1)
>>> payloads = mix.payloads(200, run="r", start=1_700_000_000.0, span=60.0)
>>> len(payloads), len({key for key, _ in payloads}) <= 40
(200, True)
>>> from pipeline.core.validation import parse_observation
>>> all(parse_observation(v, now=1_700_000_060.0).service_id == k.decode() for k, v in payloads)
True
"""

from __future__ import annotations

import random
import zlib

from pipeline.core.identity import ServiceRef
from pipeline.core.schema import Kind, Observation, Status

SECTORS: tuple[str, ...] = ("energy", "health", "telecom", "transport")
REGIONS: tuple[str, ...] = ("UA-30", "UA-46", "UA-51", "UA-63", "UA-12", "UA-18")
#: Operators per sector; services are spread round-robin over them.
OPERATORS_PER_SECTOR = 5

#: (kind, metric, unit) evidence shapes per sector, weighted like real feeds: probes and KPIs
#: dominate, heartbeats and reports are rarer.
_SHAPES: dict[str, tuple[tuple[Kind, str | None, str | None, int], ...]] = {
    "energy": (
        (Kind.PROBE, None, None, 4),
        (Kind.KPI, "load", "MW", 3),
        (Kind.OUTAGE_REPORT, None, None, 2),
        (Kind.HEARTBEAT, None, None, 1),
    ),
    "health": (
        (Kind.PROBE, None, None, 5),
        (Kind.HEARTBEAT, None, None, 3),
        (Kind.STATUS_REPORT, None, None, 2),
    ),
    "telecom": (
        (Kind.KPI, "cell_availability", "%", 5),
        (Kind.PROBE, None, None, 3),
        (Kind.HEARTBEAT, None, None, 2),
    ),
    "transport": (
        (Kind.STATUS_REPORT, None, None, 4),
        (Kind.PROBE, None, None, 3),
        (Kind.KPI, "headway", "s", 3),
    ),
}


def evidence_shapes(sector: str) -> tuple[tuple[Kind, int], ...]:
    """The evidence kinds of a sector's mix and their weights.

    >>> [(kind.value, weight) for kind, weight in evidence_shapes("health")]
    [('probe', 5), ('heartbeat', 3), ('status_report', 2)]
    """
    return tuple((shape[0], shape[3]) for shape in _SHAPES[sector])


def service_ref(index: int, *, namespace: str = "svc") -> ServiceRef:
    """The ``index``-th synthetic service (stable: same index, same identity)."""
    sector = SECTORS[index % len(SECTORS)]
    operator = f"{sector}-op{(index // len(SECTORS)) % OPERATORS_PER_SECTOR}"
    return ServiceRef(
        service_id=f"{sector}.{namespace}.{index:07d}",
        operator_id=operator,
        sector=sector,
        region=REGIONS[index % len(REGIONS)],
    )


class ObservationMix:
    """Seeded generator of observations over ``services`` distinct services.

    About 99 % of the evidence says a service is fine; 0.7 % degraded, 0.3 % down, so status
    changes are a few per cent of the stream (plus the first sighting of every service).
    """

    def __init__(self, services: int, *, seed: int = 5, namespace: str = "svc") -> None:
        if services < 1:
            raise ValueError("services must be >= 1")
        self.services = services
        self.namespace = namespace
        self._rng = random.Random(seed)
        self._refs = [service_ref(i, namespace=namespace) for i in range(services)]
        self._weights = {
            sector: [shape[3] for shape in shapes] for sector, shapes in _SHAPES.items()
        }

    def _status(self) -> Status:
        roll = self._rng.random()
        if roll < 0.003:
            return Status.DOWN
        if roll < 0.010:
            return Status.DEGRADED
        return Status.UP

    def observation(
        self,
        ref: ServiceRef,
        *,
        event_id: str,
        observed_at: float,
        status: Status | None = None,
        kind: Kind | None = None,
        attrs: dict[str, object] | None = None,
    ) -> Observation:
        """One observation for ``ref``; ``kind``/``status`` are drawn from the mix unless given."""
        shapes = _SHAPES[ref.sector]
        if kind is None:
            shape = self._rng.choices(shapes, weights=self._weights[ref.sector])[0]
        else:
            shape = next((s for s in shapes if s[0] is kind), (kind, None, None, 1))
        chosen, metric, unit, _ = shape
        drawn = status if status is not None else self._status()
        value: float | None = None
        served: int | None = None
        affected: int | None = None
        asserted: Status | None = None
        if chosen is Kind.KPI:
            value = round(self._rng.uniform(10.0, 100.0), 2)
            asserted = drawn
        elif chosen is Kind.OUTAGE_REPORT:
            served = 1_000 + zlib.crc32(ref.service_id.encode()) % 50_000
            affected = {Status.UP: 0, Status.DEGRADED: served // 10, Status.DOWN: served}.get(
                drawn, 0
            )
        elif chosen is Kind.HEARTBEAT:
            asserted = None if status is None else status
        else:
            asserted = drawn
        return Observation(
            event_id=event_id,
            operator_id=ref.operator_id,
            service_id=ref.service_id,
            sector=ref.sector,
            region=ref.region,
            kind=chosen,
            observed_at=observed_at,
            source="bench",
            vantage="bench-vantage-1" if chosen is Kind.PROBE else None,
            status=asserted,
            metric=metric,
            value=value,
            unit=unit,
            customers_served=served,
            customers_affected=affected,
            attrs=dict(attrs) if attrs else {},
        )

    def payloads(
        self, count: int, *, run: str, start: float, span: float
    ) -> list[tuple[bytes, bytes]]:
        """``count`` (key, value) records, services drawn at random, event times rising over
        ``[start, start + span]`` so every service sees its evidence in order."""
        step = span / max(1, count)
        out: list[tuple[bytes, bytes]] = []
        for i in range(count):
            ref = self._refs[self._rng.randrange(self.services)]
            obs = self.observation(ref, event_id=f"{run}-{i}", observed_at=start + i * step)
            out.append((ref.service_id.encode(), obs.to_json()))
        return out

    def first_sightings(
        self, first: int, last: int, *, run: str, observed_at: float
    ) -> list[tuple[bytes, bytes]]:
        """One "up" probe each for services ``first..last-1`` (distinct; for state size)."""
        out: list[tuple[bytes, bytes]] = []
        for i in range(first, last):
            ref = service_ref(i, namespace=self.namespace)
            obs = self.observation(
                ref,
                event_id=f"{run}-s{i}",
                observed_at=observed_at,
                status=Status.UP,
                kind=Kind.PROBE,
            )
            out.append((ref.service_id.encode(), obs.to_json()))
        return out
