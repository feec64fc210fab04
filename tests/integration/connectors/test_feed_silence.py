"""Feed silence becomes evidence for the feed's services, in the real Kafka."""

from __future__ import annotations

import time

import pytest

from connectors.base import ParseResult
from pipeline.core.schema import Kind, Status

from .conftest import AppThread, Connectors, Route, operator, service

pytestmark = pytest.mark.integration


def test_a_failing_feed_reports_unknown_for_its_services_once(
    connectors: Connectors, http: AppThread
) -> None:
    server = http.static({"/api/v2/summary.json": Route(status=503, body=b"maintenance")})
    config = connectors.config(
        [
            operator(
                "forge",
                [
                    service("tc.page", "telecom", interval=0.5),
                    service("tc.packages", "telecom", interval=0.5),
                ],
                [
                    {
                        "id": "status",
                        "type": "statuspage",
                        "url": server.url("/api/v2/summary.json"),
                        "interval_s": 0.1,
                        "timeout_s": 0.5,
                        "service": "tc.page",
                        "map": {"Packages": "tc.packages"},
                    }
                ],
            )
        ]
    )

    def settled(results: dict[str, list[ParseResult]]) -> bool:
        marks = [i for i, r in enumerate(results["status"]) if r.silence]
        # ...and polls went on failing for well over one more silence period after it.
        return bool(marks) and len(results["status"]) - marks[0] > 12

    started = time.time()
    results = connectors.run(config, time.time, until=settled, timeout=30)

    silent = [r for r in results["status"] if r.silence]
    assert len(silent) == 1, "silence is reported once per episode"
    got = connectors.observations(time.time())
    assert {(o.service_id, o.kind, o.status) for o in got} == {
        ("tc.page", Kind.STATUS_REPORT, Status.UNKNOWN),
        ("tc.packages", Kind.STATUS_REPORT, Status.UNKNOWN),
    }
    assert len(got) == 2
    for observation in got:
        assert observation.attrs["reason"] == "feed_silent"
        assert observation.attrs["silent_for_s"] >= 0.6  # interval + timeout > 0.5 expected
        assert observation.attrs["last_problem"] == "fetch_failed: HTTP 503"
        assert started < observation.observed_at < time.time()
    failed_polls = len(results["status"]) - 1
    letters = connectors.deadletters(at_least=failed_polls)
    assert len(letters) == failed_polls
    assert {(key, letter["reason"]) for key, letter in letters} == {("status", "fetch_failed")}
    sample = connectors.registry.get_sample_value
    assert sample("continuity_feed_silence_reports_total", {"feed": "status"}) == 2
    assert sample("continuity_feed_last_success_timestamp_seconds", {"feed": "status"}) is None
    rejects = sample("continuity_feed_rejects_total", {"feed": "status", "reason": "fetch_failed"})
    assert rejects == failed_polls
