"""Energy: AES Ohio outage XML, outage rows, Kubra summary and feeder states, into Kafka."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import datetime
from zoneinfo import ZoneInfo

import orjson
import pytest

from pipeline.core.schema import Kind, Status
from pipeline.core.timeutil import parse_rfc3339

from .conftest import (
    FIXTURES,
    SYNTHETIC_NOW,
    AppThread,
    Connectors,
    Route,
    fixture_bytes,
    operator,
    sent,
    service,
)

pytestmark = pytest.mark.integration


def _ratio_status(out: int, served: int) -> Status:
    """The documented rule: nobody out up, at least half out down, else degraded."""
    return Status.UP if out == 0 else Status.DOWN if out >= 0.5 * served else Status.DEGRADED


def test_aes_outage_map_xml_over_http(connectors: Connectors, http: AppThread) -> None:
    raw = fixture_bytes("aes_ohio_outages_latest.xml")
    server = http.static({"/outages/latest.xml": Route(body=raw, content_type="application/xml")})
    root = ET.fromstring(raw)
    counties = {
        c.findtext("County"): int(c.findtext("TotOut") or "-1") for c in root.findall("Counties")
    }
    total = int(root.findtext("Message/TotalOut") or "-1")
    stamp_local = datetime.strptime(root.findtext("Message/Outageat") or "", "%m/%d/%Y %I:%M:%S %p")
    stamp = stamp_local.replace(tzinfo=ZoneInfo("America/New_York")).timestamp()
    served = {
        "energy.aes.grid": 535_000,
        "energy.aes.montgomery": 250_000,
        "energy.aes.greene": 75_000,
    }
    config = connectors.config(
        [
            operator(
                "aes-ohio",
                [
                    service(s, "energy", region="US-OH", interval=300, served=n)
                    for s, n in served.items()
                ],
                [
                    {
                        "id": "aes-outage-map",
                        "type": "outage",
                        "url": server.url("/outages/latest.xml"),
                        "interval_s": 300,
                        "service": "energy.aes.grid",
                        "map": {
                            "MONTGOMERY": "energy.aes.montgomery",
                            "GREENE": "energy.aes.greene",
                        },
                        "options": {"format": "aes_xml", "timezone": "America/New_York"},
                    }
                ],
            )
        ]
    )
    now = stamp + 60

    results = connectors.run(config, now)

    produced, rejections = sent(results)
    assert rejections == []
    got = connectors.observations(now)
    assert sorted(o.to_json() for o in got) == sorted(o.to_json() for o in produced)
    by_service = {o.service_id: o for o in got}
    assert len(got) == len(by_service) == 3
    expected_out = {
        "energy.aes.grid": total,
        "energy.aes.montgomery": counties["MONTGOMERY"],
        "energy.aes.greene": counties["GREENE"],
    }
    for service_id, out in expected_out.items():
        report = by_service[service_id]
        assert report.kind is Kind.OUTAGE_REPORT
        assert report.observed_at == stamp
        assert (report.customers_affected, report.customers_served) == (out, served[service_id])
        assert report.status is _ratio_status(out, served[service_id])
    # The sample's one incident marker is in Montgomery county and travels in attrs.
    incident = root.findtext("Markers/INCIDENTID")
    assert incident
    assert incident in str(by_service["energy.aes.montgomery"].attrs)


def test_outage_rows_kubra_and_feeder_status(connectors: Connectors, http: AppThread) -> None:
    kubra_raw = fixture_bytes("kubra_summary.json")
    server = http.static({"/storm/summary.json": Route(body=kubra_raw)})
    areas = {"north-district": "energy.north", "south-district": "energy.south"}
    feeders = {"sub-7/f12": "energy.f12", "sub-7/f13": "energy.f13", "sub-9/f02": "energy.f02"}
    services = [service(s, "energy", region="UA-30") for s in [*areas.values(), *feeders.values()]]
    services += [
        service("energy.grid", "energy", region="UA-30"),
        service("energy.utility", "energy", region="UA-30"),
    ]
    feeds = [
        {
            "id": "oms-rows",
            "type": "outage",
            "path": str(FIXTURES / "outage_rows.csv"),
            "interval_s": 300,
            "map": areas,
            "options": {"format": "rows"},
        },
        {
            "id": "storm-center",
            "type": "outage",
            "url": server.url("/storm/summary.json"),
            "interval_s": 300,
            "service": "energy.utility",
            "options": {"format": "kubra"},
        },
        {
            "id": "scada",
            "type": "feeder_status",
            "path": str(FIXTURES / "feeder_status.csv"),
            "interval_s": 60,
            "service": "energy.grid",  # feeders not mapped (sub-9/f03) land here
            "map": feeders,
        },
    ]
    config = connectors.config([operator("oblenergo", services, feeds)])

    results = connectors.run(config, SYNTHETIC_NOW)

    produced, rejections = sent(results)
    assert rejections == []
    got = connectors.observations(SYNTHETIC_NOW)
    assert sorted(o.to_json() for o in got) == sorted(o.to_json() for o in produced)

    rows = list(csv.DictReader(io.StringIO(fixture_bytes("outage_rows.csv").decode())))
    expected_rows = {
        (areas[r["area"]], parse_rfc3339(r["observed_at"]), int(r["customers_out"]))
        for r in rows
        if r["area"] in areas
    }
    outage_rows = [o for o in got if o.source == "oms-rows"]
    assert {(o.service_id, o.observed_at, o.customers_affected) for o in outage_rows} == (
        expected_rows
    )
    assert len(outage_rows) == len(expected_rows)
    assert results["oms-rows"][0].skipped.total() == len(rows) - len(expected_rows)
    for o in outage_rows:
        assert o.customers_served is not None
        assert o.customers_affected is not None
        assert o.status is _ratio_status(o.customers_affected, o.customers_served)

    totals = orjson.loads(kubra_raw)["summaryFileData"]
    [storm] = [o for o in got if o.source == "storm-center"]
    assert storm.service_id == "energy.utility"
    assert storm.customers_affected == totals["totals"][0]["total_cust_a"]["val"]
    assert storm.customers_served == totals["totals"][0]["total_cust_s"]
    assert storm.observed_at == parse_rfc3339(totals["date_generated"])

    states = {"energized": Status.UP, "tripped": Status.DOWN, "partial": Status.DEGRADED}
    states["planned_outage"] = Status.MAINTENANCE
    feeder_rows = list(csv.DictReader(io.StringIO(fixture_bytes("feeder_status.csv").decode())))
    scada = {o.service_id: o for o in got if o.source == "scada"}
    assert len(scada) == len(feeder_rows)
    for row in feeder_rows:
        report = scada[feeders.get(row["feeder_id"], "energy.grid")]
        assert report.kind is Kind.STATUS_REPORT
        assert report.status is states[row["state"].lower()], row
        assert report.customers_served == int(row["customers_served"])
        if row["customers_affected"]:
            assert report.customers_affected == int(row["customers_affected"])
    # A tripped feeder with no count given: all of its customers are affected.
    assert scada["energy.f13"].customers_affected == scada["energy.f13"].customers_served
