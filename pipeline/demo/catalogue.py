"""The demo country: generated regions, operators and services in the four sectors, and
when (inside each outage cycle) which of them fail.

Nothing is listed by hand: :func:`demo_services` derives every service from the sector
plans below and a stable hash, so the same build always makes the same country.

>>> services = demo_services()
>>> len(services) >= 200, len({s.region for s in services}), len({s.operator_id for s in services})
(True, 8, 15)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from pipeline.core.schema import Kind

#: ISO 3166-2 style region codes (Ukrainian oblasts).
REGIONS: tuple[str, ...] = ("UA-05", "UA-12", "UA-18", "UA-30", "UA-46", "UA-51", "UA-63", "UA-71")
#: Independent probe vantage points for health endpoints.
VANTAGES: tuple[str, ...] = ("vp-kyiv", "vp-warsaw", "vp-frankfurt")
#: Seconds of one outage cycle, and of the history replayed when the demo starts.
DEFAULT_CYCLE_S = 600.0


@dataclass(frozen=True, slots=True)
class DemoService:
    """One simulated service and how (and when, within each cycle) it fails."""

    service_id: str
    operator_id: str
    sector: str
    region: str
    kind: Kind
    interval: float
    vantages: tuple[str, ...] = ("vp-1",)
    customers_served: int | None = None
    #: Outage window as offsets (s) inside each cycle; None never fails.
    outage: tuple[float, float] | None = None
    #: How the outage shows: "report" sends failing evidence, "silence" sends nothing,
    #: "spike" sends an anomalous KPI value, "partial" fails from one vantage only.
    outage_mode: str = "report"
    #: KPI metric name (``Kind.KPI`` services) and its usual level.
    metric: str | None = None
    baseline: float = 0.0
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Plan:
    """How one sector's operators and services are laid out."""

    sector: str
    operators: tuple[str, ...]
    #: (service suffix, kind, interval s) made for every region an operator covers.
    services: tuple[tuple[str, Kind, float], ...]
    regions_per_operator: int = 4
    #: Share of services that fail in each cycle, and outage lengths to pick from (s).
    failing: float = 0.2
    durations: tuple[float, ...] = (90.0,)


PLANS: tuple[_Plan, ...] = (
    _Plan(
        "energy",
        ("oblenergo-north", "oblenergo-south", "oblenergo-east", "oblenergo-west"),
        tuple((f"feeder-{n}", Kind.OUTAGE_REPORT, 10.0) for n in range(1, 6)),
        # Momentary (< 5 min, MAIFI) and sustained (SAIFI, CAIDI) interruptions.
        durations=(60.0, 120.0, 360.0),
    ),
    _Plan(
        "telecom",
        ("mobile-kyivstar", "mobile-lifecell", "mobile-vodafone", "fixed-ukrtelecom"),
        (
            ("core", Kind.HEARTBEAT, 5.0),
            ("ran", Kind.HEARTBEAT, 5.0),
            ("call-drops", Kind.KPI, 2.0),
        ),
        durations=(120.0, 240.0),
    ),
    _Plan(
        "transport",
        ("metro-city", "tram-city", "bus-intercity"),
        tuple((f"route-{n}", Kind.STATUS_REPORT, 10.0) for n in (1, 3, 7)),
        durations=(60.0, 180.0),
    ),
    _Plan(
        "health",
        ("hospitals-regional", "hospitals-university", "labs-national", "ambulance-dispatch"),
        tuple((f"fhir-{n}", Kind.PROBE, 5.0) for n in range(1, 4)),
        durations=(60.0, 120.0),
    ),
)


def _fraction(*parts: str) -> float:
    """A stable number in [0, 1) from ``parts`` (the same on every machine and run)."""
    digest = hashlib.blake2b("|".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _outage(plan: _Plan, service_id: str, cycle: float) -> tuple[float, float] | None:
    if _fraction(service_id, "fails") >= plan.failing:
        return None
    duration = plan.durations[int(_fraction(service_id, "length") * len(plan.durations))]
    start = _fraction(service_id, "start") * max(cycle - duration, 1.0)
    return (round(start), round(start) + duration)


def _service(
    plan: _Plan, operator: str, region: str, suffix: str, kind: Kind, interval: float, cycle: float
) -> DemoService:
    service_id = f"{plan.sector}.{operator}.{region.lower()}.{suffix}"
    outage = _outage(plan, service_id, cycle)
    served = 2_000 + int(_fraction(service_id, "served") * 48_000)
    common: dict[str, Any] = {"outage": outage}
    if plan.sector == "energy":
        common["customers_served"] = served
        return DemoService(service_id, operator, "energy", region, kind, interval, **common)
    if plan.sector == "telecom":
        if kind is Kind.KPI:
            return DemoService(
                service_id,
                operator,
                "telecom",
                region,
                kind,
                interval,
                outage_mode="spike",
                metric="call_drop_rate",
                baseline=0.5 + _fraction(service_id, "base"),
                **common,
            )
        return DemoService(
            service_id,
            operator,
            "telecom",
            region,
            kind,
            interval,
            customers_served=served * 20,
            outage_mode="silence",
            **common,
        )
    if plan.sector == "transport":
        effect = "NO_SERVICE" if _fraction(service_id, "effect") < 0.5 else "REDUCED_SERVICE"
        attrs = {"effect": effect, "route_id": suffix, "agency_id": operator}
        return DemoService(
            service_id, operator, "transport", region, kind, interval, attrs=attrs, **common
        )
    partial = _fraction(service_id, "partial") < 0.25  # one vantage's trouble, not an outage
    return DemoService(
        service_id,
        operator,
        "health",
        region,
        kind,
        interval,
        vantages=VANTAGES,
        outage_mode="partial" if partial else "report",
        **common,
    )


def demo_services(cycle: float = DEFAULT_CYCLE_S) -> tuple[DemoService, ...]:
    """Every operator covers ``regions_per_operator`` consecutive regions (so regions share
    operators and a region's failures can coincide), with each planned service there."""
    out: list[DemoService] = []
    for plan in PLANS:
        for number, operator in enumerate(plan.operators):
            first = (number * 2) % len(REGIONS)
            for step in range(plan.regions_per_operator):
                region = REGIONS[(first + step) % len(REGIONS)]
                for suffix, kind, interval in plan.services:
                    out.append(_service(plan, operator, region, suffix, kind, interval, cycle))
    return tuple(out)


DEMO_SERVICES: tuple[DemoService, ...] = demo_services()
