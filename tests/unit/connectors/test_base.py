from __future__ import annotations

import base64

import orjson

from connectors.base import Rejection, make_event_id
from pipeline.core.deadletter import MAX_ORIGINAL_BYTES
from pipeline.core.schema import Kind, Observation, Status
from pipeline.core.validation import parse_observation

from .conftest import context, service


def test_event_id_is_deterministic_and_sensitive_to_each_part() -> None:
    base = make_event_id("feed", "svc", 100.0, "v1")
    assert base == make_event_id("feed", "svc", 100.0, "v1")
    variants = {
        make_event_id("feed2", "svc", 100.0, "v1"),
        make_event_id("feed", "svc2", 100.0, "v1"),
        make_event_id("feed", "svc", 100.5, "v1"),
        make_event_id("feed", "svc", 100.0, "v2"),
    }
    assert base not in variants
    assert len(variants) == 4


def test_observe_output_round_trips_through_the_pipeline_validator() -> None:
    svc = service("svc", served=100)
    ctx = context(1_700_000_000.0, svc)
    item = ctx.observe(
        svc,
        kind=Kind.OUTAGE_REPORT,
        observed_at=1_699_999_990.0,
        status=Status.DEGRADED,
        customers_affected=7,
    )
    assert isinstance(item, Observation)
    assert item.customers_served == 100  # taken from the service declaration
    assert parse_observation(item.to_json(), now=ctx.now) == item


def test_observe_rejects_what_the_pipeline_would_reject() -> None:
    svc = service("svc", served=10)
    ctx = context(1_700_000_000.0, svc)
    future = ctx.observe(svc, kind=Kind.PROBE, observed_at=ctx.now + 3600, status=Status.UP)
    assert isinstance(future, Rejection)
    assert (future.reason, future.field) == ("future_timestamp", "observed_at")
    too_many = ctx.observe(
        svc, kind=Kind.OUTAGE_REPORT, observed_at=ctx.now, status=Status.DOWN, customers_affected=11
    )
    assert isinstance(too_many, Rejection)
    assert too_many.reason == "inconsistent_customers"
    nan = ctx.observe(svc, kind=Kind.KPI, observed_at=ctx.now, metric="m", value=float("nan"))
    assert isinstance(nan, Rejection)
    assert nan.reason == "non_finite_value"
    huge = ctx.observe(svc, kind=Kind.PROBE, observed_at=1e300, status=Status.UP)
    assert isinstance(huge, Rejection)
    assert huge.field == "observed_at"


def test_rejection_wire_form_keeps_binary_originals_and_caps_their_size() -> None:
    blob = bytes(range(256)) * (MAX_ORIGINAL_BYTES // 256 + 10)
    rejection = Rejection("malformed_protobuf", None, "bad", "feed", blob, 5.0)
    wire = orjson.loads(rejection.to_json())
    kept = base64.b64decode(wire["original_b64"])
    assert kept == blob[:MAX_ORIGINAL_BYTES]
    assert wire["original_size"] == len(blob)
    assert wire["original_truncated"] is True
    assert wire["rejected_at"] == "1970-01-01T00:00:05Z"
    assert (wire["reason"], wire["source"]) == ("malformed_protobuf", "feed")
