"""Telecom: RIPE Atlas ping results and carrier KPI CSV/JSON, through the runtime into Kafka."""

from __future__ import annotations

import csv
import io
from typing import Any

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


def test_atlas_ping_results_become_multi_vantage_probes(
    connectors: Connectors, http: AppThread
) -> None:
    raw = fixture_bytes("atlas_ping_results.json")
    server = http.static({"/api/v2/measurements/results": Route(body=raw)})
    config = connectors.config(
        [
            operator(
                "carrier",
                [service("telecom.dns.k-root", "telecom"), service("telecom.dns.other", "telecom")],
                [
                    {
                        "id": "atlas",
                        "type": "atlas_ping",
                        "url": server.url("/api/v2/measurements/results"),
                        "interval_s": 240,
                        "service": "telecom.dns.other",
                        "map": {"1001": "telecom.dns.k-root"},  # by msm_id
                    }
                ],
            )
        ]
    )

    results = connectors.run(config, SYNTHETIC_NOW)

    produced, rejections = sent(results)
    assert rejections == []
    got = connectors.observations(SYNTHETIC_NOW)
    assert sorted(o.to_json() for o in got) == sorted(o.to_json() for o in produced)
    expected = set()
    for item in orjson.loads(raw):
        loss = 1 - item["rcvd"] / item["sent"]
        status = Status.DOWN if item["rcvd"] == 0 else Status.DEGRADED if loss > 0.2 else Status.UP
        rtt = item["avg"] / 1000 if item["rcvd"] else None
        target = "telecom.dns.k-root" if item["msm_id"] == 1001 else "telecom.dns.other"
        expected.add((target, f"atlas:{item['prb_id']}", float(item["timestamp"]), status, rtt))
    assert {(o.service_id, o.vantage, o.observed_at, o.status, o.value) for o in got} == expected
    assert len(got) == len(expected)
    assert {o.kind for o in got} == {Kind.PROBE}
    assert {Status.UP, Status.DEGRADED, Status.DOWN} <= {o.status for o in got}


def _expected_kpi(rows: list[dict[str, Any]], areas: dict[str, str]) -> set[tuple[Any, ...]]:
    out = set()
    for row in rows:
        metric = (
            "cells_in_service"
            if row.get("cells_in_service") not in (None, "")
            else ("sites_in_service")
        )
        stamp = row["observed_at"]
        when = float(stamp) if not isinstance(stamp, str) else parse_rfc3339(stamp)
        out.add(
            (
                areas[row["area"]],
                when,
                metric,
                float(row[metric]),
                int(row["subscribers_served"]),
                int(row["subscribers_affected"]),
            )
        )
    return out


def test_carrier_kpi_csv_file_and_json_over_http(connectors: Connectors, http: AppThread) -> None:
    json_raw = fixture_bytes("carrier_kpi.json")
    server = http.static({"/noc/kpi.json": Route(body=json_raw)})
    areas = {
        "kyiv-city": "telecom.kyiv",
        "kharkiv": "telecom.kharkiv",
        "odesa": "telecom.odesa",
    }
    services = [service(sid, "telecom", region="UA") for sid in areas.values()]
    feeds = [
        {
            "id": "noc-csv",
            "type": "carrier_kpi",
            "path": str(FIXTURES / "carrier_kpi.csv"),
            "interval_s": 300,
            "map": areas,
        },
        {
            "id": "noc-json",
            "type": "carrier_kpi",
            "url": server.url("/noc/kpi.json"),
            "interval_s": 300,
            "map": areas,
            "options": {"format": "json"},
        },
    ]
    config = connectors.config([operator("carrier", services, feeds)])

    results = connectors.run(config, SYNTHETIC_NOW)

    produced, rejections = sent(results)
    assert rejections == []
    got = connectors.observations(SYNTHETIC_NOW)
    assert sorted(o.to_json() for o in got) == sorted(o.to_json() for o in produced)
    csv_rows = list(csv.DictReader(io.StringIO(fixture_bytes("carrier_kpi.csv").decode())))
    expected = _expected_kpi(csv_rows + orjson.loads(json_raw)["rows"], areas)
    assert {
        (
            o.service_id,
            o.observed_at,
            o.metric,
            o.value,
            o.customers_served,
            o.customers_affected,
        )
        for o in got
    } == expected
    assert len(got) == len(expected)
    assert {o.kind for o in got} == {Kind.KPI}
    assert {o.source for o in got} == {"noc-csv", "noc-json"}
