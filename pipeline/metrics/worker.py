"""The worker's Prometheus metrics, registered on a registry the caller passes in.

>>> from prometheus_client import CollectorRegistry, generate_latest
>>> metrics = WorkerMetrics(CollectorRegistry())
>>> metrics.rejected.labels(reason="malformed_json").inc()
>>> sample = b'continuity_observations_rejected_total{reason="malformed_json"} 1.0'
>>> sample in generate_latest(metrics.registry)
True
"""

from __future__ import annotations

from typing import TypeVar, cast

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

from pipeline.metrics.service_status import ServiceStatusExport

MetricT = TypeVar("MetricT", bound=MetricWrapperBase)


class WorkerMetrics:
    """All ``continuity_*`` series a worker exports."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._children: dict[tuple[int, tuple[str, ...]], MetricWrapperBase] = {}
        self.observations = Counter(
            "continuity_observations",
            "Observations accepted, by sector, kind and outcome (applied, duplicate, late, stale).",
            ["sector", "kind", "outcome"],
            registry=registry,
        )
        self.rejected = Counter(
            "continuity_observations_rejected",
            "Observations sent to the dead-letter topic, by reason.",
            ["reason"],
            registry=registry,
        )
        self.status_changes = Counter(
            "continuity_status_changes",
            "Service status transitions, by sector, new status and reason (evidence or silence).",
            ["sector", "status", "reason"],
            registry=registry,
        )
        # continuity_service_status and ..._last_evidence_timestamp_seconds, per service.
        self.services = ServiceStatusExport(registry)
        self.services_tracked = Gauge(
            "continuity_services_tracked",
            "Services whose state this worker holds for its assigned partitions.",
            registry=registry,
        )
        self.event_lag = Histogram(
            "continuity_event_lag_seconds",
            "Processing time minus event time of applied observations.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
            registry=registry,
        )
        self.incident_events = Counter(
            "continuity_incident_events",
            "Incident lifecycle events (detected, acknowledged, restored, ...), by sector.",
            ["sector", "event"],
            registry=registry,
        )
        self.kpi_anomalies = Counter(
            "continuity_kpi_anomalies",
            "KPI points whose anomaly score reached the publishing threshold.",
            ["sector", "metric"],
            registry=registry,
        )
        self.concurrent_disruptions = Counter(
            "continuity_concurrent_disruptions",
            "Concurrent-disruption findings (new or grown), by region.",
            ["region"],
            registry=registry,
        )
        self.check_errors = Counter(
            "continuity_check_errors",
            "Services whose periodic check failed (logged with the service id).",
            registry=registry,
        )
        self.sink_points = Counter(
            "continuity_sink_points",
            "Points handed to a sink, by sink and result (written, retried, dropped).",
            ["sink", "result"],
            registry=registry,
        )
        self.sink_buffered = Gauge(
            "continuity_sink_buffered_points",
            "Points waiting in a sink's buffer.",
            ["sink"],
            registry=registry,
        )

    def child(self, metric: MetricT, *labels: str) -> MetricT:
        """``metric.labels(*labels)``, cached: prometheus_client re-validates the labels on
        every call, which was ~5 % of the processor's profile on the per-event paths.

        >>> from prometheus_client import CollectorRegistry
        >>> metrics = WorkerMetrics(CollectorRegistry())
        >>> first = metrics.child(metrics.rejected, "bad_json")
        >>> first is metrics.child(metrics.rejected, "bad_json")
        True
        """
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return cast(MetricT, child)
