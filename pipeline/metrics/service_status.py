"""Per-service status series, produced at scrape time from a compact index.

A labelled ``Gauge`` child per service and status cost ~3.5-4 KB of memory per service
and a label lookup per observation (docs/benchmarks.md). This collector keeps one small
tuple per service, updated when a service's state is written, and renders the series only
when Prometheus scrapes.

>>> from prometheus_client import CollectorRegistry, generate_latest
>>> registry = CollectorRegistry()
>>> export = ServiceStatusExport(registry)
>>> export.update("svc", "op", "energy", "UA-30", "down", 1700000000.0)
>>> line = ('continuity_service_status{operator_id="op",region="UA-30",'
...         'sector="energy",service_id="svc",status="down"} 1.0')
>>> line in generate_latest(registry).decode()
True
>>> export.drop("svc"); len(export)
0
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric

from pipeline.core.schema import Status
from pipeline.monitoring.status import ServiceState

SERVICE_LABELS = ("service_id", "operator_id", "sector", "region")
_STATUSES = tuple(status.value for status in Status)

STATUS_NAME = "continuity_service_status"
STATUS_HELP = "1 for the service's current status, 0 for the others (a state set)."
EVIDENCE_NAME = "continuity_service_last_evidence_timestamp_seconds"
EVIDENCE_HELP = "Event time of the newest evidence applied for the service."


class ServiceStatusExport:
    """``continuity_service_status`` and ``continuity_service_last_evidence_timestamp_seconds``
    for the services this worker owns."""

    def __init__(self, registry: CollectorRegistry) -> None:
        # service_id -> (operator_id, sector, region, status, last_evidence_at)
        self._services: dict[str, tuple[str, str, str, str, float]] = {}
        self._names: dict[str, str] = {}  # one string object per operator/sector/region
        registry.register(self)

    def update(
        self,
        service_id: str,
        operator_id: str,
        sector: str,
        region: str,
        status: str,
        last_evidence_at: float,
    ) -> None:
        names = self._names
        self._services[service_id] = (
            names.setdefault(operator_id, operator_id),
            names.setdefault(sector, sector),
            names.setdefault(region, region),
            names.setdefault(status, status),
            last_evidence_at,
        )

    def update_state(self, state: ServiceState) -> None:
        # :meth:`update` written out: called for every state the worker writes
        names = self._names
        status = state.status.value
        self._services[state.service_id] = (
            names.setdefault(state.operator_id, state.operator_id),
            names.setdefault(state.sector, state.sector),
            names.setdefault(state.region, state.region),
            names.setdefault(status, status),
            state.last_evidence_at,
        )

    def update_stored(self, stored: dict[str, Any]) -> None:
        """From a stored monitor dict (``ServiceMonitor.to_dict``) or a legacy state dict."""
        state = stored.get("state", stored)
        self.update(
            str(state["service_id"]),
            str(state["operator_id"]),
            str(state["sector"]),
            str(state["region"]),
            str(state["status"]),
            float(state["last_evidence_at"]),
        )

    def drop(self, service_id: str) -> None:
        """Stop exporting a service (its partition moved to another worker)."""
        self._services.pop(service_id, None)

    def __len__(self) -> int:
        return len(self._services)

    def describe(self) -> Iterable[Metric]:
        return [
            GaugeMetricFamily(STATUS_NAME, STATUS_HELP, labels=(*SERVICE_LABELS, "status")),
            GaugeMetricFamily(EVIDENCE_NAME, EVIDENCE_HELP, labels=SERVICE_LABELS),
        ]

    def collect(self) -> Iterator[Metric]:
        status = GaugeMetricFamily(STATUS_NAME, STATUS_HELP, labels=(*SERVICE_LABELS, "status"))
        evidence = GaugeMetricFamily(EVIDENCE_NAME, EVIDENCE_HELP, labels=SERVICE_LABELS)
        add_status, add_evidence = status.add_metric, evidence.add_metric
        for service_id, (operator, sector, region, current, seen) in list(self._services.items()):
            labels = [service_id, operator, sector, region]
            for value in _STATUSES:
                add_status([*labels, value], 1.0 if value == current else 0.0)
            add_evidence(labels, seen)
        yield status
        yield evidence
