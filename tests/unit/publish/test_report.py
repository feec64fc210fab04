"""Report content per audience: indicators, incidents and disruptions cut by the policy."""

from __future__ import annotations

from dataclasses import replace

import orjson

from pipeline.publish.audience import PUBLIC, Audience, Viewer
from pipeline.publish.config import PublicPolicy
from pipeline.publish.records import IncidentRecord, IndicatorRecord
from pipeline.publish.report import ReportData, build_report
from pipeline.publish.report_document import render_html
from pipeline.publish.views import ViewContext
from tests.unit.publish.snapshots import INCIDENTS, NOW, snapshot

CTX = ViewContext(PublicPolicy(), b"k")
GROUPS = [
    ("sector", "energy"),
    ("sector", "health"),
    ("region", "UA-30"),
    ("region", "EE-78"),
    ("operator", "op-a"),
    ("operator", "op-b"),
    ("service", "grid.a1"),
    ("service", "grid.b1"),
]
INDICATORS = tuple(
    IndicatorRecord("availability_incl_maintenance", dim, key, window, 0.99, NOW - 60)
    for dim, key in GROUPS
    for window in ("24h", "30d")
)
# A second operator's incident in UA-30 overlapping grid.a1's: a concurrent disruption.
OVERLAP = IncidentRecord(
    "grid.b1/2", "grid.b1", "op-b", "energy", "UA-30", NOW - 2800, NOW - 2790,
    customers_affected=100,
)  # fmt: skip


def data() -> ReportData:
    snap = replace(snapshot(), indicators=INDICATORS, incidents=(*INCIDENTS, OVERLAP))
    return ReportData(NOW - 7 * 86_400, NOW, snap)


def groups(report: dict[str, object]) -> set[tuple[str, str]]:
    rows = report["indicators"]
    assert isinstance(rows, list)
    return {(r["dimension"], r["key"]) for r in rows}


def test_public_report_quotes_only_groups_big_enough() -> None:
    report = build_report(data(), PUBLIC, CTX)
    assert groups(report) == {("sector", "energy"), ("region", "UA-30")}
    assert all(r["standard"] == "ITU-T E.800" for r in report["indicators"])
    [finding] = report["disruptions"]
    assert (finding["region"], finding["operators"], finding["incidents"]) == ("UA-30", 2, 2)
    assert "operator_ids" not in finding
    html = render_html(report)
    for name in ("op-a", "op-b", "grid.a1", "grid.b1", "grid.small", "op-small"):
        assert name not in html, name
    assert "Definitions" in html


def test_operator_report_adds_only_its_own_groups() -> None:
    report = build_report(data(), Viewer(Audience.OPERATOR, "op-b"), CTX)
    assert groups(report) == {
        ("sector", "energy"), ("region", "UA-30"), ("operator", "op-b"), ("service", "grid.b1"),
    }  # fmt: skip
    body = orjson.dumps({k: v for k, v in report.items() if k != "cells"}).decode()
    assert "grid.a1" not in body
    assert "op-a" not in body


def test_verifier_report_sees_every_group_and_disruption_operators() -> None:
    report = build_report(data(), Viewer(Audience.VERIFIER, "osce"), CTX)
    assert groups(report) == set(GROUPS)
    assert report["disruptions"][0]["operator_ids"] == ["op-a", "op-b"]


def test_region_report_drops_other_regions_and_cross_region_sectors() -> None:
    report = build_report(data(), Viewer(Audience.VERIFIER, "osce"), CTX, region="EE-78")
    assert ("region", "UA-30") not in groups(report)
    assert ("sector", "energy") not in groups(report)
    assert {c["region"] for c in report["cells"]} <= {"EE-78", "other regions"}
    assert report["disruptions"] == []
