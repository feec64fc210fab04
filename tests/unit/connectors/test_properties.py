"""Property-based tests: no input makes a parser raise; every output is valid or a clean reject.

Generated inputs per parser (``max_examples``, the ceiling hypothesis runs when nothing fails):
arbitrary bytes 250, mutated fixture 120, arbitrary JSON 60 (the 7 JSON/row parsers plus the
Prometheus query API): 12 x 250 + 12 x 120 + 8 x 60 = 4 920 inputs per default run, sized to
keep the unit suite under 30 s on a busy 2-core machine.  ``CONNECTORS_PROPERTY_SCALE=5``
multiplies every budget for a deep run (24 600 inputs).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base import CONNECTOR_REASONS, FeedContext, FetchInfo, ParseResult, Rejection
from connectors.parsers.atlas import parse_atlas_ping
from connectors.parsers.carrier_kpi import parse_carrier_kpi
from connectors.parsers.feeder_status import parse_feeder_status
from connectors.parsers.fhir import parse_fhir_endpoints, parse_fhir_metadata
from connectors.parsers.gtfs_rt import parse_gtfs_rt
from connectors.parsers.http_probe import parse_http_probe
from connectors.parsers.mqtt_heartbeat import parse_mqtt_heartbeat
from connectors.parsers.outage import OutageOptions, parse_outage
from connectors.parsers.prometheus import parse_prometheus_query, parse_prometheus_text
from connectors.parsers.statuspage import parse_statuspage
from pipeline.core.schema import Observation
from pipeline.core.validation import REASONS, parse_observation

from .conftest import fixture_bytes, service

SCALE = int(os.environ.get("CONNECTORS_PROPERTY_SCALE", "1"))
BYTES_EXAMPLES = 250 * SCALE
MUTATION_EXAMPLES = 120 * SCALE
JSON_EXAMPLES = 60 * SCALE

ALLOWED_REASONS = frozenset(REASONS) | frozenset(CONNECTOR_REASONS)
SVC = service("svc.default")
MAPPED = {key: service(f"svc.{i}") for i, key in enumerate(("Red", "11", "kharkiv", "MONTGOMERY"))}
NOW = 1_700_000_000.0

Parse = Callable[[bytes, FeedContext], ParseResult]


def _aes(raw: bytes, ctx: FeedContext) -> ParseResult:
    return parse_outage(raw, ctx, OutageOptions(format="aes_xml", timezone="America/New_York"))


def _kubra(raw: bytes, ctx: FeedContext) -> ParseResult:
    return parse_outage(raw, ctx, OutageOptions(format="kubra"))


# (name, parser, real fixture to mutate, takes JSON)
PARSERS: list[tuple[str, Parse, str, bool]] = [
    ("gtfs_rt", parse_gtfs_rt, "usf_bullrunner_vehicle_positions.pb", False),
    ("fhir_metadata", parse_fhir_metadata, "smart_bulk_server_capabilitystatement_stu3.json", True),
    ("fhir_endpoints", parse_fhir_endpoints, "endpoint_bundle_hl7_sample_14.json", True),
    ("atlas_ping", parse_atlas_ping, "atlas_ping_results.json", True),
    ("carrier_kpi", parse_carrier_kpi, "carrier_kpi.csv", True),
    ("outage_aes", _aes, "aes_ohio_outages_latest.xml", False),
    ("outage_kubra", _kubra, "kubra_summary.json", True),
    ("statuspage", parse_statuspage, "githubstatus_summary_2022-11-25_incident.json", True),
    ("prometheus_text", parse_prometheus_text, "blackbox_http_probe_success.prom", False),
    ("http_probe", parse_http_probe, "blackbox_http_probe_success.prom", False),
    ("feeder_status", parse_feeder_status, "feeder_status.csv", True),
    ("mqtt_heartbeat", parse_mqtt_heartbeat, "feeder_status.csv", False),
]
# prometheus_query is JSON-only and shares the sample-to-evidence code; give it the JSON runs.
JSON_PARSERS = [(n, p) for n, p, _, is_json in PARSERS if is_json] + [
    ("prometheus_query", parse_prometheus_query)
]

SETTINGS = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    "derandomize": False,
}


def _ctx() -> FeedContext:
    return FeedContext(
        source="prop",
        now=NOW,
        default_service=SVC,
        services=MAPPED,
        fetch=FetchInfo(http_status=200, latency_s=0.1),
    )


def _check(result: Any) -> None:
    """The contract: a ParseResult of valid observations and well-formed rejections."""
    assert isinstance(result, ParseResult)
    for item in result.observations:
        assert isinstance(item, Observation)
        assert parse_observation(item.to_json(), now=NOW) == item
    for rejection in result.rejections:
        assert isinstance(rejection, Rejection)
        assert rejection.reason in ALLOWED_REASONS
        assert rejection.detail
        orjson.loads(rejection.to_json())
    assert all(count > 0 for count in result.skipped.values())


@pytest.mark.parametrize(("name", "parse"), [(p[0], p[1]) for p in PARSERS])
@settings(max_examples=BYTES_EXAMPLES, **SETTINGS)  # type: ignore[arg-type]
@given(raw=st.binary(max_size=2048))
def test_arbitrary_bytes_never_raise(name: str, parse: Parse, raw: bytes) -> None:
    _check(parse(raw, _ctx()))


@pytest.mark.parametrize(("name", "parse", "fixture"), [(p[0], p[1], p[2]) for p in PARSERS])
@settings(max_examples=MUTATION_EXAMPLES, **SETTINGS)  # type: ignore[arg-type]
@given(data=st.data())
def test_truncated_and_corrupted_real_feeds_never_raise(
    name: str, parse: Parse, fixture: str, data: st.DataObject
) -> None:
    raw = bytearray(fixture_bytes(fixture))
    cut = data.draw(st.integers(0, len(raw)), label="cut")
    flips = data.draw(
        st.lists(st.tuples(st.integers(0, len(raw) - 1), st.integers(0, 255)), max_size=4),
        label="flips",
    )
    for position, byte in flips:
        raw[position] = byte
    _check(parse(bytes(raw[:cut]), _ctx()))


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(
        [
            "active",
            "operational",
            "major_outage",
            "Endpoint",
            "Bundle",
            "CapabilityStatement",
            "2023-11-14T22:00:00Z",
            "kharkiv",
            "up",
            "success",
            "vector",
            "1",
        ]
    ),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.sampled_from(
                [
                    "resourceType",
                    "status",
                    "entry",
                    "resource",
                    "id",
                    "components",
                    "page",
                    "updated_at",
                    "prb_id",
                    "timestamp",
                    "sent",
                    "rcvd",
                    "avg",
                    "rows",
                    "area",
                    "observed_at",
                    "cells_in_service",
                    "summaryFileData",
                    "totals",
                    "data",
                    "result",
                    "resultType",
                    "metric",
                    "value",
                    "values",
                    "indicator",
                    "name",
                ]
            )
            | st.text(max_size=8),
            children,
            max_size=6,
        )
    ),
    max_leaves=30,
)


@pytest.mark.parametrize(("name", "parse"), JSON_PARSERS)
@settings(max_examples=JSON_EXAMPLES, **SETTINGS)  # type: ignore[arg-type]
@given(value=_JSON)
def test_arbitrary_json_never_raises(name: str, parse: Parse, value: Any) -> None:
    _check(parse(orjson.dumps(value), _ctx()))
