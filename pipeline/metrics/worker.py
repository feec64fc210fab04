"""The worker's Prometheus metrics, registered on a registry the caller passes in.

>>> from prometheus_client import CollectorRegistry, generate_latest
>>> metrics = WorkerMetrics(CollectorRegistry())
>>> metrics.rejected.labels(reason="malformed_json").inc()
>>> sample = b'continuity_observations_rejected_total{reason="malformed_json"} 1.0'
>>> sample in generate_latest(metrics.registry)
True
"""

from __future__ import annotations

from bisect import bisect_left
from typing import TypeVar, cast

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

from pipeline.metrics.service_status import ServiceStatusExport

MetricT = TypeVar("MetricT", bound=MetricWrapperBase)


class ObservationTally:
    """Accepted observations of one batch, counted in plain ints and floats: added to the
    Prometheus series once per batch (:meth:`WorkerMetrics.add_observations`) with the same
    totals as one increment and one histogram observation per observation."""

    __slots__ = ("counts", "lags")

    def __init__(self) -> None:
        #: (sector, kind, outcome) -> observations
        self.counts: dict[tuple[str, str, str], int] = {}
        #: processing time minus event time, in arrival order
        self.lags: list[float] = []

    def add(self, sector: str, kind: str, outcome: str, lag: float) -> None:
        """One accepted observation; a negative ``lag`` (clock skew) counts as 0."""
        key = (sector, kind, outcome)
        counts = self.counts
        counts[key] = counts.get(key, 0) + 1
        self.lags.append(max(0.0, lag))


def observe_many(histogram: Histogram, values: list[float]) -> None:
    """``histogram.observe(v)`` for each of ``values`` in order, with one update per bucket:
    the same sum to the last bit (added in the same order) and the same bucket counts.

    >>> from prometheus_client import CollectorRegistry
    >>> one, many = (Histogram(n, "h", buckets=(1, 5), registry=CollectorRegistry())
    ...              for n in ("one", "many"))
    >>> values = [0.1, 7.0, 0.2, 3.0, 1.0]
    >>> for v in values:
    ...     one.observe(v)
    >>> observe_many(many, values)
    >>> def values_of(h):
    ...     return [s.value for s in h.collect()[0].samples if not s.name.endswith("_created")]
    >>> values_of(one) == values_of(many)
    True
    """
    if not values:
        return
    internals = ("_sum", "_buckets", "_upper_bounds", "_raise_if_not_observable")
    if not all(hasattr(histogram, name) for name in internals):  # another prometheus-client
        for value in values:
            histogram.observe(value)
        return
    histogram._raise_if_not_observable()  # type: ignore[no-untyped-call]
    bounds: list[float] = histogram._upper_bounds
    per_bucket = [0] * len(bounds)
    total = histogram._sum.get()
    for value in values:
        total += value
        # the first bucket whose bound is >= value, as Histogram.observe walks them
        per_bucket[bisect_left(bounds, value)] += 1
    histogram._sum.set(total)
    for bucket, count in zip(histogram._buckets, per_bucket, strict=True):
        if count:
            bucket.inc(count)


class WorkerMetrics:
    """All ``continuity_*`` series a worker exports."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._children: dict[tuple[int, tuple[str, ...]], MetricWrapperBase] = {}
        self.observations = Counter(
            "continuity_observations",
            "Observations accepted, by sector, kind and outcome (applied, duplicate, late, stale, "
            "replayed: read again after a restart and already in the stored state).",
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

    def add_observations(self, tally: ObservationTally) -> None:
        """Count a batch's accepted observations (``continuity_observations_total``) and
        their event lags (``continuity_event_lag_seconds``)."""
        for (sector, kind, outcome), count in tally.counts.items():
            self.child(self.observations, sector, kind, outcome).inc(count)
        observe_many(self.event_lag, tally.lags)

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
