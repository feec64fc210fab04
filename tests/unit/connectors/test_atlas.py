from __future__ import annotations

import json

import orjson

from connectors.parsers.atlas import AtlasPingOptions, parse_atlas_ping
from pipeline.core.schema import Status

from .conftest import context, fixture_bytes, service

DNS = service("telecom.dns")
OTHER = service("telecom.other")
NAME = "atlas_ping_results.json"


def _expected_status(result: dict[str, object], degraded_loss: float) -> Status:
    sent, rcvd = int(result["sent"]), int(result["rcvd"])  # type: ignore[call-overload]
    if rcvd == 0:
        return Status.DOWN
    return Status.DEGRADED if 1 - rcvd / sent > degraded_loss else Status.UP


def test_each_probe_is_a_vantage_with_loss_status_and_rtt() -> None:
    raw = fixture_bytes(NAME)
    results = json.loads(raw)
    opts = AtlasPingOptions(degraded_loss=0.2)
    out = parse_atlas_ping(raw, context(1_700_000_100.0, DNS), opts)
    assert out.rejections == []
    assert len(out.observations) == len(results)
    for result, observation in zip(results, out.observations, strict=True):
        assert observation.vantage == f"atlas:{result['prb_id']}"
        assert observation.observed_at == result["timestamp"]
        assert observation.status is _expected_status(result, 0.2)
        if result["rcvd"]:
            assert observation.value == result["avg"] / 1000
            assert observation.unit == "s"
        else:
            assert observation.value is None


def test_results_map_to_services_by_measurement_or_destination() -> None:
    raw = fixture_bytes(NAME)
    results = json.loads(raw)
    out = parse_atlas_ping(raw, context(1_700_000_100.0, None, {"dns.example.net": OTHER}))
    assert [o.service_id for o in out.observations] == [OTHER.service_id]
    assert out.skipped["unmapped_target"] == sum(
        1 for r in results if r["dst_name"] != "dns.example.net"
    )
    by_msm = parse_atlas_ping(raw, context(1_700_000_100.0, None, {"1001": DNS}))
    assert len(by_msm.observations) == sum(1 for r in results if r["msm_id"] == 1001)


def test_json_lines_and_single_objects_are_accepted() -> None:
    results = json.loads(fixture_bytes(NAME))
    lines = b"\n".join(orjson.dumps(r) for r in results) + b"\n"
    assert len(parse_atlas_ping(lines, context(1_700_000_100.0, DNS)).observations) == len(results)
    one = parse_atlas_ping(orjson.dumps(results[0]), context(1_700_000_100.0, DNS))
    assert len(one.observations) == 1


def test_bad_results_reject_only_themselves() -> None:
    good = {"prb_id": 1, "timestamp": 1_700_000_000, "sent": 3, "rcvd": 3, "avg": 5.0}
    batch = [
        good,
        {**good, "rcvd": 4},
        {**good, "prb_id": "x"},
        {k: v for k, v in good.items() if k != "timestamp"},
        {**good, "type": "traceroute"},
        7,
    ]
    out = parse_atlas_ping(orjson.dumps(batch), context(1_700_000_100.0, DNS))
    assert len(out.observations) == 1
    assert [(r.reason, r.field) for r in out.rejections] == [
        ("invalid_field", "[1].rcvd"),
        ("invalid_field", "[2].prb_id"),
        ("missing_field", "[3].timestamp"),
        ("invalid_field", "[5]"),
    ]
    assert out.skipped["not_a_ping"] == 1
