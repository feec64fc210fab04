"""The one wire declaration (``WireObservation``): the fast decoder never differs from the
detailed validator, and the ingest API's OpenAPI schema is generated from it.

The differential test compares :func:`parse_observation` (msgspec first, the detailed path
when msgspec refuses) with the detailed path alone (``orjson`` + ``parse_observation_dict``):
the same observation, or the same reason, field and sentence. 400 generated records plus the
hand-picked edge cases where the two JSON decoders differ; a few seconds.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from connectors.openapi import OPENAPI
from pipeline.core.schema import Kind, Status, WireObservation
from pipeline.core.validation import (
    DEFAULT_LIMITS,
    ObservationRejected,
    ValidationLimits,
    parse_observation,
    parse_observation_dict,
)
from tests.support.observations import make_obs, wire

NOW = 1_700_000_000.0


def encode(data: object) -> bytes:
    """JSON of ``data`` (the standard library writes integers of any size, unlike orjson)."""
    return json.dumps(data, allow_nan=False).encode()


def record(**fields: Any) -> bytes:
    """A valid observation's wire bytes with ``fields`` set."""
    return encode({**orjson.loads(wire()), **fields})


def nested(depth: int) -> bytes:
    """A valid record whose attrs hold arrays nested ``depth`` deep."""
    deep = b'"attrs":{"d":' + b"[" * depth + b"]" * depth + b"},"
    return wire().replace(b'"schema":1,', b'"schema":1,' + deep)


def outcome(raw: bytes, limits: ValidationLimits, *, detailed: bool) -> object:
    """The observation, or (reason, field, detail) of its refusal."""
    try:
        if detailed:
            try:
                data = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise ObservationRejected("malformed_json", None, str(exc)) from None
            if not isinstance(data, dict):
                return parse_observation(raw, now=NOW, limits=limits)  # not_an_object
            return parse_observation_dict(data, now=NOW, limits=limits)
        return parse_observation(raw, now=NOW, limits=limits)
    except ObservationRejected as exc:
        return (exc.reason, exc.field, exc.detail)
    except TypeError as exc:  # attrs nested too deep for orjson to write back: both raise
        return (type(exc), str(exc))


def assert_same(raw: bytes, limits: ValidationLimits = DEFAULT_LIMITS) -> object:
    fast = outcome(raw, limits, detailed=False)
    assert fast == outcome(raw, limits, detailed=True), raw
    return fast


TEXT = st.one_of(
    st.sampled_from(["a", "svc-1", " ", "", "x" * 257, "tab\there", "é", "energy", "Energy"]),
    st.text(max_size=12),
)
NUMBER = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, -1, 5, 10**11, 10**11 + 1, 2**63, 2**64, 1.0, True, None]),
)
JSON_VALUE = st.recursive(
    st.one_of(st.none(), st.booleans(), NUMBER, TEXT),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)
FIELD_VALUES: dict[str, Any] = {
    "schema": st.sampled_from([1, 1.0, 2, True, "1", None]),
    "kind": st.sampled_from([*(k.value for k in Kind), "guess", 1, None]),
    "status": st.sampled_from([*(s.value for s in Status), "fine", None]),
    "observed_at": st.sampled_from(
        [
            "2023-11-14T22:13:20Z",
            "2023-11-14T22:13:20.5+02:00",
            "2023-11-14 22:13:20z",
            "2023-11-14T22:13:20",
            "2099-01-01T00:00:00Z",
            "1990-01-01T00:00:00Z",
            " 2023-11-14T22:13:20Z ",
            "yesterday",
            5,
        ]
    ),
    "sector": st.sampled_from(["energy", "water_2", "Water", "energy\n", "", "e" * 65]),
    "value": NUMBER,
    "customers_served": NUMBER,
    "customers_affected": NUMBER,
    "attrs": JSON_VALUE,
}
RECORD = st.fixed_dictionaries(
    {},
    optional={
        **{name: TEXT for name in ("event_id", "operator_id", "service_id", "region", "source")},
        **{name: st.one_of(TEXT, st.none()) for name in ("vantage", "metric", "unit")},
        **FIELD_VALUES,
        "extra": JSON_VALUE,
    },
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=st.sampled_from(["probe", "kpi", "heartbeat", "outage_report"]), record=RECORD)
def test_fast_and_detailed_paths_agree_on_generated_records(
    base: str, record: dict[str, Any]
) -> None:
    valid = orjson.loads(wire(kind=base, value=1.5 if base == "kpi" else None))
    assert_same(encode({**valid, **record}))


@pytest.mark.parametrize(
    "raw",
    [
        # ints beyond 64 bits: orjson reads them as floats, msgspec as ints
        record(attrs={"big": 10**29}),
        record(attrs={"low": -(2**63) - 1}),
        record(attrs={"edge": 2**63 - 1, "n": [-(2**63)]}),
        record(value=12345678901234567890),
        record(value=10**29),
        record(value=-(10**400)),
        # orjson refuses the whole record; msgspec would skip an unknown field unread
        wire().replace(b'"schema":1', b'"schema":1,"extra":1e999'),
        wire().replace(b'"schema":1', b'"schema":1,"attrs":{"x":1e999}'),
        # duplicate keys: the last one counts, in both
        wire().replace(b'"schema":1', b'"schema":1,"service_id":"first"'),
        wire().replace(b'"schema":1', b'"schema":1,"status":"fine"'),
        # nesting orjson refuses, and nesting it reads but cannot write back
        nested(1100),
        nested(300),
        wire(attrs={"users_affected": -1}),
        wire(attrs={"users_affected": True}),
        wire(attrs={"blob": "x" * 9000}),
        wire(kind="outage_report", status=None, customers_affected=3),
        wire(kind="outage_report", status=None, customers_served=1, customers_affected=3),
        wire(kind="kpi", status=None),
        b'{"schema":1,"service_id":"\\ud800"}',
        b"\xef\xbb\xbf" + wire(),
        b"[]",
        b"",
    ],
)
def test_fast_and_detailed_paths_agree_where_the_decoders_differ(raw: bytes) -> None:
    assert_same(raw)


def test_limits_other_than_the_schema_defaults_are_honoured() -> None:
    raw = wire(service_id="s" * 300)
    accepted = assert_same(raw, ValidationLimits(max_id_length=400))
    assert accepted == parse_observation(raw, now=None, limits=ValidationLimits(max_id_length=400))
    refused = assert_same(wire(service_id="s" * 20), ValidationLimits(max_id_length=10))
    assert refused == ("invalid_field", "service_id", "longer than 10")


def test_the_fast_path_builds_the_same_observation() -> None:
    obs = make_obs(
        status=Status.DOWN, vantage="vp-1", value=3, metric="m", unit="s",
        customers_served=10, customers_affected=3, attrs={"k": [1, 2.5, {"x": None}]},
    )  # fmt: skip
    parsed = parse_observation(obs.to_json(), now=NOW)
    assert parsed == obs
    assert isinstance(parsed.value, float)
    second = parse_observation(make_obs().to_json(), now=NOW)
    assert second.attrs == {}
    assert second.attrs is not parse_observation(make_obs().to_json(), now=NOW).attrs


def test_the_wire_declaration_has_every_field_of_the_observation() -> None:
    observation_fields = {f.name for f in dataclasses.fields(make_obs())}
    assert set(WireObservation.__struct_fields__) == {"schema"} | observation_fields


def test_openapi_schemas_are_valid_and_describe_what_the_api_takes() -> None:
    schemas = OPENAPI["components"]["schemas"]
    for schema in schemas.values():
        Draft202012Validator.check_schema(schema)
    document = {"$defs": schemas, **schemas["Observation"]}
    text = orjson.dumps(document).replace(b"#/components/schemas/", b"#/$defs/")
    validator = Draft202012Validator(orjson.loads(text))
    pushed = {"service_id": "grid.f12", "kind": "probe", "status": "down",
              "observed_at": "2024-03-01T12:00:00Z"}  # fmt: skip
    assert list(validator.iter_errors(pushed)) == []
    full = make_obs(value=1.0, metric="m", customers_served=3, attrs={"k": 1}).to_dict()
    assert list(validator.iter_errors(full)) == []
    for bad in ({**pushed, "kind": "guess"}, {**pushed, "sector": "Energy"}, {"kind": "probe"}):
        assert list(validator.iter_errors(bad)), bad
