from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from connectors.base import OptionsError
from connectors.parsers.outage import OutageOptions, parse_outage
from pipeline.core.schema import Kind, Status
from pipeline.core.timeutil import parse_rfc3339

from .conftest import context, fixture_bytes, service

GRID = service("energy.aes.grid", "energy", served=535_000)
AES = OutageOptions(format="aes_xml", timezone="America/New_York")
NOW = datetime(2026, 9, 23, 11, 0, tzinfo=ZoneInfo("UTC")).timestamp()


def test_aes_ohio_counties_and_total() -> None:
    raw = fixture_bytes("aes_ohio_outages_latest.xml")
    root = ET.fromstring(raw)
    counties = {
        c.findtext("County", ""): int(c.findtext("TotOut", "-1")) for c in root.iter("Counties")
    }
    # Title case on purpose: county matching is case-insensitive.
    services = {
        name.title(): service(f"energy.aes.{name.lower()}", "energy", served=100_000)
        for name in counties
    }
    result = parse_outage(raw, context(NOW, GRID, services), AES)
    assert result.rejections == []
    by_area = {o.attrs["area"]: o for o in result.observations}
    for county, out in counties.items():
        observation = by_area[county]
        assert observation.kind is Kind.OUTAGE_REPORT
        assert observation.customers_affected == out
        assert observation.customers_served == 100_000
        assert observation.status is (Status.UP if out == 0 else Status.DEGRADED)
    # Outageat "9/23/2026 6:35:31 AM" is Dayton wall time: EDT, UTC-4.
    stamp = datetime(2026, 9, 23, 10, 35, 31, tzinfo=ZoneInfo("UTC")).timestamp()
    total = by_area["*"]
    assert (total.service_id, total.observed_at) == (GRID.service_id, stamp)
    assert total.customers_affected == int(root.findtext("Message/TotalOut") or -1)
    montgomery = by_area["MONTGOMERY"]
    assert [i["id"] for i in montgomery.attrs["incidents"]] == [
        m.findtext("INCIDENTID")
        for m in root.iter("Markers")
        if m.findtext("COUNTY") == "MONTGOMERY"
    ]


def test_aes_needs_a_timezone_and_refuses_entities() -> None:
    with pytest.raises(OptionsError, match="timezone"):
        OutageOptions(format="aes_xml")
    with pytest.raises(OptionsError, match="IANA"):
        OutageOptions(format="aes_xml", timezone="Mars/Olympus")
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><Incidents>&a;</Incidents>'
    result = parse_outage(bomb, context(NOW, GRID), AES)
    assert [r.reason for r in result.rejections] == ["malformed_xml"]
    truncated = fixture_bytes("aes_ohio_outages_latest.xml")[:700]
    assert [r.reason for r in parse_outage(truncated, context(NOW, GRID), AES).rejections] == [
        "malformed_xml"
    ]


def test_generic_rows_with_status_thresholds() -> None:
    raw = fixture_bytes("outage_rows.csv")
    rows = list(csv.DictReader(io.StringIO(raw.decode())))
    services = {r["area"]: service(f"energy.{r['area']}", "energy") for r in rows}
    opts = OutageOptions(format="rows", down_ratio=0.4)
    result = parse_outage(
        raw, context(parse_rfc3339(rows[0]["observed_at"]) + 60, None, services), opts
    )
    assert result.rejections == []
    for row, observation in zip(rows, result.observations, strict=True):
        out, served = int(row["customers_out"]), int(row["customers_served"])
        expected = (
            Status.UP if out == 0 else Status.DOWN if out >= 0.4 * served else Status.DEGRADED
        )
        assert observation.status is expected
        assert (observation.customers_affected, observation.customers_served) == (out, served)


def test_json_rows_and_inconsistent_counts() -> None:
    doc = {
        "areas": [
            {
                "observed_at": "2023-11-14T22:00:00Z",
                "area": "north",
                "customers_affected": 20,
                "customers_served": 10,
            },
            {"observed_at": "2023-11-14T22:00:00Z", "area": "north", "customers_out": "many"},
        ]
    }
    north = service("energy.north", "energy")
    result = parse_outage(
        json.dumps(doc).encode(), context(1_700_000_000.0, None, {"north": north})
    )
    assert result.observations == []
    assert [(r.reason, r.field) for r in result.rejections] == [
        ("inconsistent_customers", "customers_affected"),
        ("invalid_field", "areas[1].customers_out"),
    ]


def test_kubra_summary_totals() -> None:
    raw = fixture_bytes("kubra_summary.json")
    totals = json.loads(raw)["summaryFileData"]["totals"][0]
    result = parse_outage(raw, context(1_700_000_000.0, GRID), OutageOptions(format="kubra"))
    [report] = result.observations
    assert report.customers_affected == totals["total_cust_a"]["val"]
    assert report.customers_served == totals["total_cust_s"]
    assert report.attrs["outages"] == totals["total_outages"]
    broken = parse_outage(b'{"summaryFileData": {}}', context(0.0, GRID), OutageOptions("kubra"))
    assert [r.field for r in broken.rejections] == ["summaryFileData.totals"]
