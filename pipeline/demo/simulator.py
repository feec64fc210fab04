"""The demo's simulator: the generated country's services send evidence on schedule, with
outages injected at fixed offsets of each cycle (see :mod:`pipeline.demo.catalogue`).

Pure: :meth:`DemoSimulator.tick` turns a clock reading into the observations due by then.
Starting it in the past (``start`` = now - history) replays that history at the first tick,
so a fresh demo already has finished incidents to show. The demo and tests produce the
observations to Kafka.

>>> sim = DemoSimulator(DEMO_SERVICES, cycle=300.0, start=0.0)
>>> sorted({o.sector for o in sim.tick(0.0)})
['energy', 'health', 'telecom', 'transport']
"""

from __future__ import annotations

import hashlib

from pipeline.core.schema import Kind, Observation, Status
from pipeline.demo.catalogue import DEMO_SERVICES, DemoService

__all__ = ["DEMO_SERVICES", "DemoService", "DemoSimulator"]


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
        for number, vantage in enumerate(service.vantages):
            # "partial": only the first vantage sees the failure (its own network trouble).
            down = failing and (service.outage_mode != "partial" or number == 0)
            status: Status | None = None
            affected: int | None = None
            value: float | None = None
            metric: str | None = None
            if service.kind is Kind.OUTAGE_REPORT:
                affected = (service.customers_served or 0) if down else 0
            elif service.kind is Kind.KPI:
                metric = service.metric or "value"
                wobble = ((int(at) // int(service.interval)) % 5) * 0.01 * service.baseline
                value = service.baseline * (25.0 if down else 1.0) + wobble
            elif service.kind is Kind.PROBE:
                status = Status.DOWN if down else Status.UP
                value = None if down else 0.08
                metric = None if down else "latency"
            elif service.kind is not Kind.HEARTBEAT:
                status = Status.DOWN if down else Status.UP
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
                    metric=metric,
                    value=value,
                    unit=("s" if metric == "latency" else "%") if value is not None else None,
                    customers_served=service.customers_served,
                    customers_affected=affected,
                    attrs={"expected_interval_s": service.interval, **service.attrs},
                )
            )
        return observations


def _event_id(service_id: str, vantage: str, at: float) -> str:
    return hashlib.blake2b(f"{service_id}|{vantage}|{at:.3f}".encode(), digest_size=12).hexdigest()
