from __future__ import annotations

import csv
import io

import orjson

from connectors.parsers.feeder_status import STATES, parse_feeder_status
from pipeline.core.schema import Status
from pipeline.core.timeutil import parse_rfc3339

from .conftest import context, fixture_bytes, service


def test_feeder_rows_map_states_and_customers() -> None:
    raw = fixture_bytes("feeder_status.csv")
    rows = list(csv.DictReader(io.StringIO(raw.decode())))
    services = {r["feeder_id"]: service(f"grid.{r['feeder_id']}", "energy") for r in rows}
    now = parse_rfc3339(rows[0]["observed_at"]) + 60
    result = parse_feeder_status(raw, context(now, None, services))
    assert result.rejections == []
    for row, observation in zip(rows, result.observations, strict=True):
        status = STATES[row["state"].lower()]
        assert observation.status is status
        assert observation.customers_served == int(row["customers_served"])
        if row["customers_affected"]:
            assert observation.customers_affected == int(row["customers_affected"])
        elif status is Status.DOWN:
            assert observation.customers_affected == int(row["customers_served"])
        else:
            assert observation.customers_affected is None


def test_bad_feeder_rows_name_the_field() -> None:
    rows = [
        {"observed_at": "2023-11-14T22:00:00Z", "feeder_id": "f1", "state": "on fire"},
        {"observed_at": "2023-11-14T22:00:00Z", "state": "tripped"},
        {
            "observed_at": "2023-11-14T22:00:00Z",
            "feeder_id": "f1",
            "state": "open",
            "customers_served": 10,
            "customers_affected": 11,
        },
        {"observed_at": "2023-11-14T22:00:00Z", "feeder_id": "nowhere", "state": "open"},
    ]
    result = parse_feeder_status(
        orjson.dumps({"rows": rows}), context(1_700_000_000.0, None, {"f1": service("grid.f1")})
    )
    assert result.observations == []
    assert [(r.reason, r.field) for r in result.rejections] == [
        ("invalid_field", "rows[0].state"),
        ("missing_field", "rows[1].feeder_id"),
        ("inconsistent_customers", "customers_affected"),
    ]
    assert result.skipped["unmapped_feeder"] == 1
