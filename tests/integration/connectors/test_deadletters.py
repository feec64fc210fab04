"""Polled feeds that cannot become observations: dead-letter records in the real Kafka."""

from __future__ import annotations

import base64
import importlib
from typing import Any

import pytest
from google.transit import gtfs_realtime_pb2

from .conftest import AppThread, Connectors, Route, fixture_bytes, operator, service

pytestmark = pytest.mark.integration

# protobuf ships no type stubs (and the project's mypy override covers google.transit only).
DecodeError: type[Exception] = importlib.import_module("google.protobuf.message").DecodeError


def test_broken_feeds_become_dead_letters_with_reason_and_original_bytes(
    connectors: Connectors, http: AppThread
) -> None:
    protobuf = fixture_bytes("mbta_vehiclepositions.pb")
    # Cut inside an entity (a cut exactly between entities is a valid, shorter FeedMessage:
    # protobuf has no end marker); the official bindings must refuse it too.
    truncated = protobuf[: len(protobuf) // 2]
    with pytest.raises(DecodeError):
        gtfs_realtime_pb2.FeedMessage().ParseFromString(truncated)
    summary = fixture_bytes("githubstatus_summary_2022-11-25_incident.json")
    invalid_json = summary[: len(summary) // 3]
    routes = {
        "/vehicles.pb": Route(body=truncated, content_type="application/x-protobuf"),
        "/summary.json": Route(body=invalid_json),
        "/gone.json": Route(status=500, body=b"internal error"),
        "/portal.json": Route(body=b"<html><body>Sign in</body></html>", content_type="text/html"),
    }
    server = http.static(routes)
    feeds: list[dict[str, Any]] = [
        {"id": "gtfs-truncated", "type": "gtfs_rt", "url": server.url("/vehicles.pb")},
        {"id": "status-invalid", "type": "statuspage", "url": server.url("/summary.json")},
        {"id": "status-500", "type": "statuspage", "url": server.url("/gone.json")},
        {"id": "status-portal", "type": "statuspage", "url": server.url("/portal.json")},
    ]
    for feed in feeds:
        feed.update(interval_s=60, service="transport.svc")
    config = connectors.config([operator("op", [service("transport.svc", "transport")], feeds)])

    results = connectors.run(config, 1_700_000_000.0)

    assert all(len(r) == 1 and not r[0].observations for r in results.values()), results
    letters = connectors.deadletters(at_least=4)
    by_feed = {key: record for key, record in letters}
    assert len(letters) == 4
    expected = {
        "gtfs-truncated": ("malformed_protobuf", truncated),
        "status-invalid": ("malformed_json", invalid_json),
        "status-500": ("fetch_failed", b"internal error"),
        "status-portal": ("unsupported_content_type", b"<html><body>Sign in</body></html>"),
    }
    for feed_id, (reason, original) in expected.items():
        record = by_feed[feed_id]
        assert record["reason"] == reason, record
        assert record["source"] == feed_id
        assert base64.b64decode(record["original_b64"]) == original
        assert record["original_size"] == len(original)
        assert record["original_truncated"] is False
        assert record["detail"]
    assert "500" in by_feed["status-500"]["detail"]
    assert by_feed["status-portal"]["field"] == "Content-Type"
    # Nothing was sent as evidence, and the rejects are counted by reason.
    assert connectors.observations() == []
    sample = connectors.registry.get_sample_value
    for feed_id, (reason, _) in expected.items():
        assert sample("continuity_feed_rejects_total", {"feed": feed_id, "reason": reason}) == 1
        labels = {"feed": feed_id}
        assert sample("continuity_feed_last_success_timestamp_seconds", labels) is None


def test_future_header_and_a_50_mb_feed_are_dead_letters(
    connectors: Connectors, http: AppThread
) -> None:
    protobuf = fixture_bytes("mbta_vehiclepositions.pb")
    header = gtfs_realtime_pb2.FeedMessage.FromString(protobuf).header.timestamp
    huge = b"[" + b" " * (50 * 1024 * 1024) + b"]"  # valid JSON, but 50 MB
    server = http.static(
        {
            "/vehicles.pb": Route(body=protobuf, content_type="application/x-protobuf"),
            "/huge.json": Route(body=huge),
        }
    )
    feeds: list[dict[str, Any]] = [
        {"id": "gtfs-future", "type": "gtfs_rt", "url": server.url("/vehicles.pb")},
        {"id": "carrier-huge", "type": "carrier_kpi", "url": server.url("/huge.json")},
    ]
    for feed in feeds:
        feed.update(interval_s=60, service="transport.svc")
    config = connectors.config([operator("op", [service("transport.svc", "transport")], feeds)])

    # The clock reads an hour before the feed's header: the feed claims to be from the future.
    results = connectors.run(config, float(header) - 3600)

    assert all(not r[0].observations for r in results.values()), results
    by_feed = {key: record for key, record in connectors.deadletters(at_least=2)}
    assert by_feed["gtfs-future"]["reason"] == "future_timestamp"
    assert by_feed["gtfs-future"]["field"] == "observed_at"
    huge_letter = by_feed["carrier-huge"]
    assert huge_letter["reason"] == "oversize"
    # The runtime stops reading one byte past its 32 MiB cap; the record keeps 64 KiB of it.
    assert huge_letter["original_size"] == 32 * 1024 * 1024 + 1
    assert huge_letter["original_truncated"] is True
    assert base64.b64decode(huge_letter["original_b64"]) == huge[: 64 * 1024]
    assert connectors.observations() == []
