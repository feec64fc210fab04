"""The notifier's Prometheus metrics, registered on a registry passed in."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 300.0)


class NoticeMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.signals = Counter(
            "continuity_notice_signals",
            "Incident transitions and findings read by the notifier.",
            ["kind", "outcome"],
            registry=registry,
        )
        self.notices = Counter(
            "continuity_notices",
            "Notices decided, by kind.",
            ["kind"],
            registry=registry,
        )
        self.deliveries = Counter(
            "continuity_notice_deliveries",
            "Delivery attempts by channel type and result (delivered, retry, failed, "
            "dead_letter, queue_full).",
            ["channel", "result"],
            registry=registry,
        )
        self.delivery_duration = Histogram(
            "continuity_notice_delivery_duration_seconds",
            "Time one delivery attempt took.",
            ["channel"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.latency = Histogram(
            "continuity_notice_latency_seconds",
            "Evidence event time of a notice's newest transition to its delivery.",
            ["channel"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.queued = Gauge(
            "continuity_notice_queued",
            "Notices waiting for delivery, per subscriber.",
            ["subscriber"],
            registry=registry,
        )
