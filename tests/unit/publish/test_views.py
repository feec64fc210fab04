"""Views: what each audience receives, checked on the serialised output itself."""

from __future__ import annotations

from dataclasses import replace

import orjson
import pytest

from pipeline.publish.audience import PUBLIC, Audience, Viewer
from pipeline.publish.config import PublicPolicy
from pipeline.publish.records import IncidentRecord, ServiceState, Snapshot
from pipeline.publish.views import PolicyViolation, ViewContext, build_view, find_service
from tests.unit.publish.snapshots import INCIDENTS, NOW, SERVICES, snapshot

CTX = ViewContext(PublicPolicy(), b"k", notices_feed="https://example.org/notices.atom")
OPERATOR_IDS = {s.operator_id for s in SERVICES}
SERVICE_IDS = {s.service_id for s in SERVICES}


def text(view: object) -> str:
    return orjson.dumps(view).decode()


def test_public_view_names_no_operator_and_no_service() -> None:
    view = build_view(PUBLIC, snapshot(), snapshot(), CTX, NOW)
    body = text(view)
    for name in OPERATOR_IDS | SERVICE_IDS:
        assert name not in body, name
    assert "services" not in view
    assert [c["label"] for c in view["cells"]] == ["energy · UA-30"]
    assert view["cells"][0]["open_incidents"] == 1
    assert view["cells"][0]["customers_affected"] == 700
    assert view["withheld_services"] == 4
    # only incidents of published cells, under a pseudonym
    assert [r["cell"] for r in view["open_incidents"]] == ["energy · UA-30"]
    assert [r["customers_affected"] for r in view["history"]] == [300]
    assert all(len(r["ref"]) == 10 for r in view["open_incidents"] + view["history"])
    assert view["links"]["notices_feed"] == "https://example.org/notices.atom"
    assert view["overall"]["status"] == "down"


def test_public_view_refuses_a_snapshot_newer_than_the_delay() -> None:
    ctx = replace(CTX, policy=PublicPolicy(delay_s=600))
    with pytest.raises(PolicyViolation):
        build_view(PUBLIC, snapshot(), snapshot(NOW - 300), ctx, NOW)
    view = build_view(PUBLIC, snapshot(), snapshot(NOW - 600), ctx, NOW)
    assert view["as_of"] == "2026-05-28T20:16:40Z"


def test_operator_sees_only_its_own_services_in_full() -> None:
    view = build_view(Viewer(Audience.OPERATOR, "op-a"), snapshot(), snapshot(), CTX, NOW)
    assert {s["service_id"] for s in view["services"]} == {"grid.a1", "grid.a2"}
    assert {i["service_id"] for i in view["open_incidents"] + view["history"]} == {"grid.a1"}
    assert view["open_incidents"][0]["last_event"] == "detected"
    assert view["services"][0]["reason"] == "evidence"
    body = text({k: v for k, v in view.items() if k != "cells"})
    for other in OPERATOR_IDS - {"op-a"}:
        assert other not in body
    assert "grid.b1" not in text(view)
    assert "grid.small" not in text(view)
    assert find_service(view, "grid.a1") is not None
    assert find_service(view, "grid.b1") is None


def test_unknown_operator_sees_nothing_but_the_public_cells() -> None:
    view = build_view(Viewer(Audience.OPERATOR, "op-unknown"), snapshot(), snapshot(), CTX, NOW)
    assert view["services"] == []
    assert view["open_incidents"] == []
    assert view["history"] == []


def test_verifier_sees_every_service_with_addresses_scrubbed() -> None:
    leaky = ServiceState(
        "fhir.hospital.example.org", "op-h", "health", "EE-78", "down", NOW - 60,
        "probe http://10.9.8.7/metadata?token=s3cret",
    )  # fmt: skip
    leaky_incident = IncidentRecord(
        "fhir.hospital.example.org/1", "fhir.hospital.example.org", "op-h", "health", "EE-78",
        NOW - 60, NOW - 50,
    )  # fmt: skip
    live = Snapshot(NOW, (*SERVICES, leaky), (*INCIDENTS, leaky_incident))
    view = build_view(Viewer(Audience.VERIFIER, "osce"), live, snapshot(), CTX, NOW)
    body = text(view)
    for secret in ("hospital.example.org", "10.9.8.7", "s3cret", "http://10"):
        assert secret not in body
    assert "reason" not in view["services"][0]
    assert len(view["services"]) == len(SERVICES) + 1
    assert {s["operator_id"] for s in view["services"]} == OPERATOR_IDS
    assert "last_event" not in view["open_incidents"][0]
    # the scrubbed service and its incident still line up under one pseudonym
    scrubbed = next(s for s in view["services"] if s["service_id"].startswith("[host:"))
    assert any(i["service_id"] == scrubbed["service_id"] for i in view["open_incidents"])


def test_availability_bars_cover_90_days_per_group() -> None:
    view = build_view(Viewer(Audience.OPERATOR, "op-a"), snapshot(), snapshot(), CTX, NOW)
    bars = {b["name"]: b for b in view["availability"]}
    assert set(bars) == {"grid.a1", "grid.a2"}
    assert len(bars["grid.a1"]["bars"]) == 90
    assert bars["grid.a1"]["bars"][-1]["availability"] < 1.0
    assert bars["grid.a2"]["availability"] == 1.0
    # days before the service was first seen are "no data", not a flattering 100 %
    assert bars["grid.a2"]["bars"][0]["level"] == "no data"
