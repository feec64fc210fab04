"""A small simulator of operators in the four sectors, with outages injected on a schedule.

Pure: :meth:`DemoSimulator.tick` turns a clock reading into the observations due by then.
The demo and tests produce them to Kafka.

>>> sim = DemoSimulator(DEMO_SERVICES, cycle=300.0, start=0.0)
>>> sorted({o.sector for o in sim.tick(0.0)})
['energy', 'health', 'telecom', 'transport']
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pipeline.core.schema import Kind, Observation, Status


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
    #: How the outage shows: "report" sends failing evidence, "silence" sends nothing.
    outage_mode: str = "report"


DEMO_SERVICES: tuple[DemoService, ...] = (
    DemoService(
        "grid.ua-30.feeder-12",
        "demo-energy",
        "energy",
        "UA-30",
        Kind.OUTAGE_REPORT,
        interval=10.0,
        customers_served=12_000,
        outage=(60.0, 150.0),
    ),
    DemoService(
        "grid.ua-30.feeder-14",
        "demo-energy",
        "energy",
        "UA-30",
        Kind.OUTAGE_REPORT,
        interval=10.0,
        customers_served=8_500,
    ),
    DemoService(
        "hospital.ee-78.fhir",
        "demo-health",
        "health",
        "EE-78",
        Kind.PROBE,
        interval=5.0,
        vantages=("vp-tallinn", "vp-riga", "vp-helsinki"),
        outage=(90.0, 140.0),
    ),
    DemoService(
        "mobile.ua-30.core",
        "demo-telecom",
        "telecom",
        "UA-30",
        Kind.HEARTBEAT,
        interval=5.0,
        customers_served=250_000,
        outage=(70.0, 160.0),
        outage_mode="silence",
    ),
    DemoService(
        "transit.ee-37.tram-3",
        "demo-transport",
        "transport",
        "EE-37",
        Kind.STATUS_REPORT,
        interval=10.0,
        outage=(200.0, 260.0),
    ),
)


class DemoSimulator:
    """Emits each service's evidence every ``interval`` seconds of the (injected) clock."""

    def __init__(self, services: tuple[DemoService, ...], *, cycle: float, start: float) -> None:
        self.services = services
        self.cycle = cycle
        self.start = start
        self._next_due = {service.service_id: start for service in services}

    def in_outage(self, service: DemoService, at: float) -> bool:
        if service.outage is None:
            return False
        offset = (at - self.start) % self.cycle
        return service.outage[0] <= offset < service.outage[1]

    def tick(self, now: float) -> list[Observation]:
        """Every observation due at or before ``now`` since the last tick."""
        out: list[Observation] = []
        for service in self.services:
            due = self._next_due[service.service_id]
            while due <= now:
                out.extend(self._evidence(service, due))
                due += service.interval
            self._next_due[service.service_id] = due
        return out

    def _evidence(self, service: DemoService, at: float) -> list[Observation]:
        failing = self.in_outage(service, at)
        if failing and service.outage_mode == "silence":
            return []
        observations = []
        for vantage in service.vantages:
            status: Status | None
            affected: int | None = None
            value: float | None = None
            if service.kind is Kind.OUTAGE_REPORT:
                status = None
                affected = (service.customers_served or 0) if failing else 0
            elif service.kind is Kind.HEARTBEAT:
                status = None
            elif service.kind is Kind.PROBE:
                status = Status.DOWN if failing else Status.UP
                value = None if failing else 0.08
            else:
                status = Status.DOWN if failing else Status.UP
            observations.append(
                Observation(
                    event_id=_event_id(service.service_id, vantage, at),
                    operator_id=service.operator_id,
                    service_id=service.service_id,
                    sector=service.sector,
                    region=service.region,
                    kind=service.kind,
                    observed_at=at,
                    source="demo-simulator",
                    vantage=vantage if service.kind is Kind.PROBE else None,
                    status=status,
                    metric="latency" if value is not None else None,
                    value=value,
                    unit="s" if value is not None else None,
                    customers_served=service.customers_served,
                    customers_affected=affected,
                    attrs={"expected_interval_s": service.interval},
                )
            )
        return observations


def _event_id(service_id: str, vantage: str, at: float) -> str:
    return hashlib.blake2b(f"{service_id}|{vantage}|{at:.3f}".encode(), digest_size=12).hexdigest()
