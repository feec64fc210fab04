from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.ingest import PushRefused, check_push, hash_token
from pipeline.core.schema import Observation, Status
from pipeline.core.validation import parse_observation

from .conftest import service

NOW = 1_700_000_000.0
GRID = service("grid.f12", "energy", operator="grid", region="UA-30", served=1000)
OWN = {GRID.service_id: GRID}
MINIMAL = {
    "service_id": "grid.f12",
    "kind": "probe",
    "status": "down",
    "observed_at": "2023-11-14T22:13:00Z",
}


def _refused(body: bytes, content_type: str = "application/json") -> PushRefused:
    with pytest.raises(PushRefused) as raised:
        check_push(body, content_type, "grid", OWN, now=NOW)
    return raised.value


def test_minimal_observation_is_completed_from_token_and_declaration() -> None:
    [obs] = check_push(orjson.dumps(MINIMAL), "application/json", "grid", OWN, now=NOW)
    assert (obs.operator_id, obs.sector, obs.region, obs.source) == (
        "grid",
        "energy",
        "UA-30",
        "push:grid",
    )
    assert obs.status is Status.DOWN
    again = check_push(
        orjson.dumps(MINIMAL), "application/json; charset=utf-8", "grid", OWN, now=NOW
    )
    assert again[0].event_id == obs.event_id  # identical resend, identical id
    assert parse_observation(obs.to_json(), now=NOW) == obs


def test_json_array_ndjson_and_csv_give_the_same_observations() -> None:
    second = {**MINIMAL, "status": "up", "observed_at": "2023-11-14T22:13:10Z"}
    as_json = check_push(orjson.dumps([MINIMAL, second]), "application/json", "grid", OWN, now=NOW)
    ndjson = orjson.dumps(MINIMAL) + b"\n" + orjson.dumps(second) + b"\n"
    as_lines = check_push(ndjson, "application/x-ndjson", "grid", OWN, now=NOW)
    csv_body = (
        "service_id,kind,status,observed_at\n"
        + "\n".join(f"grid.f12,probe,{r['status']},{r['observed_at']}" for r in (MINIMAL, second))
    ).encode()
    as_csv = check_push(csv_body, "text/csv", "grid", OWN, now=NOW)
    assert as_json == as_lines == as_csv


def test_another_operators_id_or_service_is_403_naming_the_field() -> None:
    stolen = _refused(orjson.dumps({**MINIMAL, "operator_id": "mobile"}))
    assert stolen.status == 403
    assert [(p.index, p.field) for p in stolen.problems] == [(0, "operator_id")]
    foreign = _refused(orjson.dumps([MINIMAL, {**MINIMAL, "service_id": "mobile.kyiv"}]))
    assert foreign.status == 403
    assert [(p.index, p.field) for p in foreign.problems] == [(1, "service_id")]


def test_every_bad_item_is_listed_with_its_field() -> None:
    body = orjson.dumps(
        [
            {**MINIMAL, "status": "sideways"},
            {**MINIMAL, "observed_at": "2030-01-01T00:00:00Z"},
            {**MINIMAL, "customers_affected": 5000},
            {**MINIMAL, "sector": "health"},
            "just a string",
            {k: v for k, v in MINIMAL.items() if k != "service_id"},
        ]
    )
    refused = _refused(body)
    assert refused.status == 400
    assert [(p.index, p.reason, p.field) for p in refused.problems] == [
        (0, "invalid_field", "status"),
        (1, "future_timestamp", "observed_at"),
        (2, "inconsistent_customers", "customers_affected"),
        (3, "invalid_field", "sector"),
        (4, "not_an_object", None),
        (5, "missing_field", "service_id"),
    ]


def test_body_level_errors() -> None:
    assert _refused(b"{not json").problems[0].reason == "malformed_json"
    wrong_type = _refused(orjson.dumps(MINIMAL), "application/xml")
    assert (wrong_type.status, wrong_type.problems[0].field) == (415, "Content-Type")
    assert _refused(b"[]").problems[0].detail == "no observations in body"
    bad_number = _refused(b"service_id,kind,value,observed_at\ngrid.f12,kpi,lots,x\n", "text/csv")
    assert (bad_number.problems[0].index, bad_number.problems[0].field) == (0, "value")


def test_hash_token_matches_sha256_hex() -> None:
    import hashlib

    assert hash_token("s3cret") == hashlib.sha256(b"s3cret").hexdigest()


# 300 generated bodies per content type (900 in all).
@settings(max_examples=300, deadline=None)
@given(
    body=st.binary(max_size=1024),
    content_type=st.sampled_from(["application/json", "application/x-ndjson", "text/csv"]),
)
def test_arbitrary_bodies_are_accepted_or_refused_cleanly(body: bytes, content_type: str) -> None:
    outcome: list[Observation] | PushRefused
    try:
        outcome = check_push(body, content_type, "grid", OWN, now=NOW)
    except PushRefused as refused:
        outcome = refused
    if isinstance(outcome, PushRefused):
        assert outcome.status in {400, 403, 413, 415, 422}
        assert outcome.problems
    else:
        assert all(isinstance(o, Observation) and o.operator_id == "grid" for o in outcome)
