"""``continuity_feed_*`` Prometheus metrics, on a registry the caller owns (never the global).

A silent feed shows as a growing ``time() - continuity_feed_last_success_timestamp_seconds``;
rejects are labelled by reason so a broken feed says *why*.

>>> from prometheus_client import CollectorRegistry
>>> registry = CollectorRegistry()
>>> metrics = FeedMetrics(registry)
>>> metrics.observe_result("f1", ParseResult(), now=100.0)
>>> registry.get_sample_value("continuity_feed_last_success_timestamp_seconds", {"feed": "f1"})
100.0
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from connectors.base import ParseResult


class FeedMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.last_success = Gauge(
            "continuity_feed_last_success_timestamp_seconds",
            "When the feed last produced at least one observation without a whole-feed reject.",
            ["feed"],
            registry=registry,
        )
        self.observations = Counter(
            "continuity_feed_observations_sent",
            "Observations durably acknowledged by Kafka.",
            ["feed"],
            registry=registry,
        )
        self.parsed = Counter(
            "continuity_feed_observations_parsed",
            "Observations produced by the feed's parser.",
            ["feed"],
            registry=registry,
        )
        self.rejects = Counter(
            "continuity_feed_rejects",
            "Inputs refused (sent to the dead-letter topic), by reason.",
            ["feed", "reason"],
            registry=registry,
        )
        self.skipped = Counter(
            "continuity_feed_skipped",
            "Valid inputs deliberately not turned into evidence, by reason.",
            ["feed", "reason"],
            registry=registry,
        )
        self.lag = Gauge(
            "continuity_feed_lag_seconds",
            "Clock minus the newest observed_at in the last poll.",
            ["feed"],
            registry=registry,
        )
        self.spooled = Gauge(
            "continuity_feed_spool_records",
            "Records waiting in the on-disk spool for Kafka.",
            registry=registry,
        )
        self.silence_reports = Counter(
            "continuity_feed_silence_reports",
            "Unknown-status observations emitted because the feed was silent (no usable "
            "result) past its services' expected interval.",
            ["feed"],
            registry=registry,
        )
        self.spool_overflow = Counter(
            "continuity_feed_spool_overflow",
            "Records refused because the spool was full.",
            registry=registry,
        )

    def observe_result(self, feed: str, result: ParseResult, now: float) -> None:
        """Record one poll's outcome (or the feed's silence, which is no sign of life)."""
        if result.silence:
            self.silence_reports.labels(feed).inc(len(result.observations))
            return
        self.parsed.labels(feed).inc(len(result.observations))
        for rejection in result.rejections:
            self.rejects.labels(feed, rejection.reason).inc()
        for reason, count in result.skipped.items():
            self.skipped.labels(feed, reason).inc(count)
        whole_feed_rejected = not result.observations and bool(result.rejections)
        if not whole_feed_rejected:
            self.last_success.labels(feed).set(now)
        if result.observations:
            self.lag.labels(feed).set(now - max(o.observed_at for o in result.observations))
