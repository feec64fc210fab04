"""Bad input lands in the dead-letter topic with its reason; the worker keeps going."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable

import pytest

from pipeline.config.settings import Settings
from pipeline.core.timeutil import format_rfc3339
from tests.support.observations import wire
from tests.support.stack import WorkerProcess, eventually, metric_sum, produce, read_topic

pytestmark = pytest.mark.integration


def test_each_kind_of_bad_input_is_dead_lettered(
    settings: Settings, start_worker: Callable[..., WorkerProcess]
) -> None:
    worker = start_worker()
    now = time.time()
    at = format_rfc3339(now)
    bad = {
        "malformed_json": b'{"schema": 1, "event_id": ',
        "unsupported_schema": wire(schema=7, observed_at=at),
        "missing_field": wire(service_id=None, observed_at=at),
        "non_finite_value": b'{"schema":1,"value":NaN}',
        "future_timestamp": wire(observed_at=format_rfc3339(now + 86400 * 30)),
        "oversize": wire(observed_at=at, attrs={"blob": "x" * 70_000}),
        "inconsistent_customers": wire(observed_at=at, customers_served=10, customers_affected=11),
    }
    good = wire(service_id=f"{settings.app_id}.ok", observed_at=at)
    produce(settings, [(b"k", raw) for raw in bad.values()] + [(b"ok", good)])

    records = read_topic(settings, settings.topics.deadletter, at_least=len(bad))
    by_original = {base64.b64decode(r["original_b64"]): r for r in records}
    for expected_reason, raw in bad.items():
        record = by_original[raw]
        # NaN is not JSON, so it is a decoding failure, reported as such.
        reason = "malformed_json" if expected_reason == "non_finite_value" else expected_reason
        assert record["reason"] == reason, record
        assert record["source_topic"] == settings.topics.observations
    # The valid observation behind the bad ones was still processed.
    status = read_topic(settings, settings.topics.status, at_least=1)
    assert [s["service_id"] for s in status] == [f"{settings.app_id}.ok"]

    def rejects_counted() -> str | None:
        text = worker.metrics_text()
        return text if 'reason="oversize"' in text else None

    metrics = eventually(rejects_counted, what="reject metrics")
    assert (
        metric_sum(metrics, "continuity_observations_rejected_total", reason="malformed_json") == 2
    )
    assert by_original[bad["missing_field"]]["field"] == "service_id"
