from __future__ import annotations

from collections import Counter

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

from connectors.base import ParseResult, Rejection
from connectors.metrics import FeedMetrics
from pipeline.core.schema import Kind, Observation, Status


def _obs(at: float) -> Observation:
    return Observation("e", "op", "svc", "energy", "UA", Kind.PROBE, at, "f", status=Status.UP)


def test_feed_metrics_track_success_lag_and_rejects_by_reason() -> None:
    registry = CollectorRegistry()
    metrics = FeedMetrics(registry)
    ok = ParseResult(
        observations=[_obs(90.0), _obs(95.0)],
        rejections=[Rejection("invalid_field", "x", "bad", "f", b"", 100.0)],
        skipped=Counter({"unmapped_area": 4}),
    )
    metrics.observe_result("f", ok, now=100.0)
    whole_feed_bad = ParseResult(rejections=[Rejection("malformed_json", None, "x", "f", b"", 0)])
    metrics.observe_result("f", whole_feed_bad, now=200.0)

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"feed": "f", **labels})

    assert value("continuity_feed_last_success_timestamp_seconds") == 100.0  # not 200
    assert value("continuity_feed_lag_seconds") == 5.0
    assert value("continuity_feed_rejects_total", reason="invalid_field") == 1
    assert value("continuity_feed_rejects_total", reason="malformed_json") == 1
    assert value("continuity_feed_skipped_total", reason="unmapped_area") == 4
    assert value("continuity_feed_observations_parsed_total") == 2


def test_metrics_use_only_the_given_registry() -> None:
    first, second = CollectorRegistry(), CollectorRegistry()
    FeedMetrics(first)
    FeedMetrics(second)  # would raise "Duplicated timeseries" on a shared registry
    assert b"# TYPE continuity_feed_rejects_total counter" in generate_latest(first)
    assert b"continuity_feed_" not in generate_latest(REGISTRY)
