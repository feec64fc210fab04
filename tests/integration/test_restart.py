"""A restarted worker recovers per-service state from the changelog: no status is lost."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from pipeline.config.settings import Settings
from pipeline.core.schema import Kind, Status
from tests.support.observations import make_obs
from tests.support.stack import WorkerProcess, eventually, metric_sum, produce, read_topic

pytestmark = pytest.mark.integration


def test_restart_mid_stream_loses_no_status(
    settings: Settings, start_worker: Callable[..., WorkerProcess]
) -> None:
    first = start_worker()
    services = [f"{settings.app_id}.svc-{i}" for i in range(12)]
    now = time.time()
    before = [
        make_obs(s, at=now - 5, kind=Kind.STATUS_REPORT, status=Status.DOWN, event_id=f"{s}-1")
        for s in services
    ]
    produce(settings, [(o.service_id.encode(), o.to_json()) for o in before])
    assert len(read_topic(settings, settings.topics.status, at_least=len(services))) == len(
        services
    )
    first.stop()

    second = start_worker()
    # Redelivered evidence (same event ids) and new evidence of the same status.
    again = [
        make_obs(s, at=now - 4, kind=Kind.STATUS_REPORT, status=Status.DOWN, event_id=f"{s}-2")
        for s in services
    ]
    produce(settings, [(o.service_id.encode(), o.to_json()) for o in before + again])

    def processed() -> str | None:
        text = second.metrics_text()
        total = metric_sum(text, "continuity_observations_total")
        return text if total >= 2 * len(services) else None

    text = eventually(processed, what="the restarted worker to process the new evidence")
    assert metric_sum(text, "continuity_observations_total", outcome="duplicate") == len(services)
    # The clean stop wrote what waited and committed what it processed: nothing read again.
    assert metric_sum(text, "continuity_observations_total", outcome="replayed") == 0
    changes = read_topic(settings, settings.topics.status, at_least=len(services), timeout=5)
    assert sorted(c["service_id"] for c in changes) == sorted(services), "a status was re-emitted"
    # The recovered state is exported again, so dashboards do not go blank after a restart.
    eventually(
        lambda: all(
            metric_sum(
                second.metrics_text(), "continuity_service_status", service_id=s, status="down"
            )
            == 1
            for s in services
        ),
        what="recovered statuses in the restarted worker's metrics",
    )
    # One incident per service, before and after the restart: none opened twice. (The
    # operator's second "down" report acknowledges it.)
    incidents = read_topic(settings, settings.topics.incidents, at_least=2 * len(services))
    detected = sorted(
        e["incident"]["service"]["service_id"] for e in incidents if e["event"] == "detected"
    )
    assert detected == sorted(services)
    assert {e["event"] for e in incidents} == {"detected", "acknowledged"}
