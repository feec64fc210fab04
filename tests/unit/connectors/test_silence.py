"""Feed silence becomes evidence: connectors.silence and its wiring into run_forever."""

from __future__ import annotations

import asyncio
from pathlib import Path

from prometheus_client import CollectorRegistry

from connectors.base import FeedContext, ParseResult, ServiceSpec
from connectors.config import FeedConfig
from connectors.metrics import FeedMetrics
from connectors.parsers.statuspage import StatuspageOptions
from connectors.runtime import FeedRunner, run_forever
from connectors.silence import SilenceWatch
from pipeline.core.schema import Kind, Status
from pipeline.core.validation import parse_observation

NOW = 1_700_000_000.0
PAGE = ServiceSpec("op", "web.page", "telecom", "UA", 120.0)
API = ServiceSpec("op", "web.api", "telecom", "UA", 300.0)
SERVICES = {PAGE.service_id: PAGE, API.service_id: API}


def _feed(path: Path | None = None, interval: float = 30.0, timeout: float = 10.0) -> FeedConfig:
    return FeedConfig(
        "status",
        "op",
        "statuspage",
        interval,
        None,
        path,
        PAGE.service_id,
        {"API": API.service_id, "Api v2": API.service_id},
        StatuspageOptions(),
        timeout,
    )


def _reject() -> ParseResult:
    ctx = FeedContext("status", NOW)
    return ParseResult(rejections=[ctx.reject("fetch_failed", None, "HTTP 503", b"")])


def _alive() -> ParseResult:
    ctx = FeedContext("status", NOW)
    result = ParseResult()
    result.add(ctx.observe(PAGE, kind=Kind.HEARTBEAT, observed_at=NOW, status=Status.UP))
    return result


def test_silence_is_reported_once_per_episode_for_every_service_of_the_feed() -> None:
    ticks = [0.0]
    watch = SilenceWatch(_feed(), SERVICES, clock=lambda: NOW, monotonic=lambda: ticks[0])
    # The longest expected interval among the feed's services (API: 300 s) decides.
    assert watch.silent_after_s == 300.0
    ticks[0] = 200.0
    watch.record(_reject())  # a failed poll is no sign of life...
    assert watch.check() is None  # ...but the threshold is not crossed yet
    ticks[0] = 300.0
    evidence = watch.check()
    assert evidence is not None
    assert evidence.silence
    assert evidence.rejections == []
    assert [(o.service_id, o.kind, o.status) for o in evidence.observations] == [
        ("web.page", Kind.STATUS_REPORT, Status.UNKNOWN),
        ("web.api", Kind.STATUS_REPORT, Status.UNKNOWN),  # mapped twice, reported once
    ]
    for observation in evidence.observations:
        assert parse_observation(observation.to_json(), now=NOW) == observation
        assert observation.observed_at == NOW
        assert observation.source == "status"
        assert observation.attrs["reason"] == "feed_silent"
        assert observation.attrs["silent_for_s"] == 300.0
        assert observation.attrs["last_problem"] == "fetch_failed: HTTP 503"
    ticks[0] = 900.0
    assert watch.check() is None  # once per episode: the worker's silence rules take over

    watch.record(evidence)  # its own evidence does not count as the feed being alive
    watch.record(_alive())
    ticks[0] = 1100.0
    assert watch.check() is None  # re-armed, silent for only 200 s
    ticks[0] = 1200.0
    again = watch.check()
    assert again is not None
    assert "last_problem" not in again.observations[0].attrs
    ids = {o.event_id for o in evidence.observations}
    assert ids.isdisjoint(o.event_id for o in again.observations)


def test_a_fast_feed_waits_at_least_one_poll_and_its_timeout() -> None:
    watch = SilenceWatch(_feed(interval=600.0, timeout=20.0), SERVICES, monotonic=lambda: 0.0)
    assert watch.silent_after_s == 620.0


def test_an_empty_but_valid_result_is_a_sign_of_life() -> None:
    ticks = [0.0]
    watch = SilenceWatch(_feed(), SERVICES, monotonic=lambda: ticks[0])
    ticks[0] = 299.0
    watch.record(ParseResult())  # e.g. a status page whose components are all unmapped
    ticks[0] = 500.0
    assert watch.check() is None


def test_metrics_count_silence_reports_and_do_not_call_the_feed_alive() -> None:
    registry = CollectorRegistry()
    metrics = FeedMetrics(registry)
    evidence = SilenceWatch(_feed(), SERVICES, clock=lambda: NOW, monotonic=iter([0, 301]).__next__)
    result = evidence.check()
    assert result is not None
    metrics.observe_result("status", result, now=NOW)
    assert (
        registry.get_sample_value("continuity_feed_silence_reports_total", {"feed": "status"}) == 2
    )
    labels = {"feed": "status"}
    assert (
        registry.get_sample_value("continuity_feed_last_success_timestamp_seconds", labels) is None
    )
    assert registry.get_sample_value("continuity_feed_observations_parsed_total", labels) is None


def test_run_forever_turns_a_failing_feed_into_unknown_evidence(tmp_path: Path) -> None:
    quick = ServiceSpec("op", "web.page", "telecom", "UA", 0.3)
    feed = FeedConfig(
        "gone", "op", "statuspage", 0.05, None, tmp_path / "missing.json", "web.page",
        {}, StatuspageOptions(), 0.05,
    )  # fmt: skip
    runner = FeedRunner(feed, {"web.page": quick}, lambda: NOW)
    seen: list[ParseResult] = []

    async def scenario() -> None:
        stop = asyncio.Event()

        async def sink(source: str, result: ParseResult) -> None:
            assert source == "gone"
            seen.append(result)
            if result.silence:
                stop.set()

        await asyncio.wait_for(run_forever([runner], sink, stop), timeout=5)

    asyncio.run(scenario())
    failures = [r for r in seen if not r.silence]
    assert failures
    assert all(r.rejections[0].reason == "fetch_failed" for r in failures)
    [silence] = [r for r in seen if r.silence]
    [unknown] = silence.observations
    assert (unknown.service_id, unknown.status) == ("web.page", Status.UNKNOWN)
    assert unknown.attrs["silent_for_s"] >= 0.3
    assert unknown.attrs["last_problem"].startswith("fetch_failed: ")
