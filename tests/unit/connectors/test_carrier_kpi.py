from __future__ import annotations

import csv
import io
import json

from connectors.parsers.carrier_kpi import CarrierKpiOptions, parse_carrier_kpi
from pipeline.core.schema import Kind
from pipeline.core.timeutil import parse_rfc3339

from .conftest import context, fixture_bytes, service

KYIV = service("telecom.kyiv", served=2_100_000)
KHARKIV = service("telecom.kharkiv", served=880_000)
ODESA = service("telecom.odesa", served=640_000)
AREAS = {"kyiv-city": KYIV, "kharkiv": KHARKIV, "odesa": ODESA}
NOW = 1_700_000_400.0


def test_csv_rows_become_cells_in_service_kpis_with_subscribers() -> None:
    raw = fixture_bytes("carrier_kpi.csv")
    rows = list(csv.DictReader(io.StringIO(raw.decode())))
    result = parse_carrier_kpi(raw, context(NOW, None, AREAS))
    assert result.rejections == []
    assert len(result.observations) == len(rows)
    for row, observation in zip(rows, result.observations, strict=True):
        assert observation.service_id == AREAS[row["area"]].service_id
        assert observation.kind is Kind.KPI
        assert (observation.metric, observation.value) == (
            "cells_in_service",
            float(row["cells_in_service"]),
        )
        assert observation.customers_served == int(row["subscribers_served"])
        assert observation.customers_affected == int(row["subscribers_affected"])
        assert observation.attrs["cells_total"] == int(row["cells_total"])
        assert observation.observed_at == parse_rfc3339(row["observed_at"])


def test_json_rows_accept_sites_only_and_epoch_times() -> None:
    raw = fixture_bytes("carrier_kpi.json")
    rows = json.loads(raw)["rows"]
    result = parse_carrier_kpi(raw, context(NOW, None, AREAS), CarrierKpiOptions("json"))
    assert result.rejections == []
    metrics = [(o.service_id, o.metric) for o in result.observations]
    expected = [
        (
            AREAS[r["area"]].service_id,
            "cells_in_service" if "cells_in_service" in r else "sites_in_service",
        )
        for r in rows
    ]
    assert metrics == expected


def test_bad_rows_name_the_field() -> None:
    raw = (
        b"observed_at,area,cells_total,cells_in_service\n"
        b"2023-11-14T22:00:00Z,kyiv-city,10,11\n"
        b"2023-11-14T22:00:00Z,kyiv-city,10,-1\n"
        b"yesterday,kyiv-city,10,5\n"
        b"2023-11-14T22:00:00Z,,10,5\n"
        b"2023-11-14T22:00:00Z,atlantis,10,5\n"
    )
    result = parse_carrier_kpi(raw, context(NOW, None, AREAS))
    assert result.observations == []
    assert [(r.reason, r.field) for r in result.rejections] == [
        ("invalid_field", "rows[0].cells_in_service"),
        ("invalid_field", "rows[1].cells_in_service"),
        ("invalid_field", "rows[2].observed_at"),
        ("missing_field", "rows[3].area"),
    ]
    assert result.skipped["unmapped_area"] == 1


def test_ragged_csv_and_wrong_json_shape_are_rejected_whole() -> None:
    ragged = parse_carrier_kpi(b"observed_at,area\n1,2,3\n", context(NOW, KYIV))
    assert [r.reason for r in ragged.rejections] == ["malformed_csv"]
    shape = parse_carrier_kpi(b'{"data": 1}', context(NOW, KYIV))
    assert [r.reason for r in shape.rejections] == ["unexpected_format"]
