from __future__ import annotations

import json
import re

import orjson
import pytest

from connectors.base import FetchInfo
from connectors.parsers.fhir import (
    ENDPOINT_STATUS,
    FhirMetadataOptions,
    parse_fhir_endpoints,
    parse_fhir_metadata,
)
from pipeline.core.schema import Kind, Status
from pipeline.core.timeutil import parse_rfc3339

from .conftest import context, fixture_bytes, service

FHIR = service("health.fhir", "health")
NOW = 1_700_000_000.0
METADATA = (
    "smart_bulk_server_capabilitystatement_stu3.json",
    "epic_capabilitystatement_stu3.json",
    "cerner_conformance_dstu2.json",
)


def test_real_metadata_responses_are_up_probes_with_latency() -> None:
    for name in METADATA:
        raw = fixture_bytes(name)
        doc = json.loads(raw)
        fetch = FetchInfo(http_status=200, latency_s=0.25, url="https://fhir.example/metadata")
        result = parse_fhir_metadata(
            raw, context(NOW, FHIR, fetch=fetch), FhirMetadataOptions("v1")
        )
        [probe] = result.observations
        assert (probe.kind, probe.status, probe.value, probe.unit) == (
            Kind.PROBE,
            Status.UP,
            0.25,
            "s",
        )
        assert probe.vantage == "v1"
        assert probe.attrs["fhirVersion"] == doc["fhirVersion"]
        assert probe.observed_at == NOW


def test_failed_metadata_probes_are_down_with_the_cause() -> None:
    good = fixture_bytes("smart_bulk_server_capabilitystatement_stu3.json")
    cases = {
        "HTTP 503": (good, FetchInfo(http_status=503, latency_s=0.1)),
        "fetch: ConnectionRefused": (b"", FetchInfo(error="ConnectionRefused")),
        "not JSON": (b"<html>maintenance</html>", FetchInfo(http_status=200, latency_s=0.1)),
        "Bundle": (fixture_bytes("endpoint_bundle_hl7_sample_14.json"), FetchInfo(200, 0.1)),
    }
    for cause, (raw, fetch) in cases.items():
        [probe] = parse_fhir_metadata(raw, context(NOW, FHIR, fetch=fetch)).observations
        assert probe.status is Status.DOWN
        assert probe.value is None  # a failed probe has no meaningful latency
        assert cause in probe.attrs["error"]


def test_endpoint_status_codes_cover_the_official_code_system() -> None:
    xml = fixture_bytes("codesystem-endpoint-status.xml").decode()
    codes = re.findall(r'<concept>\s*<code value="([a-z-]+)"/>', xml)
    assert sorted(codes) == sorted(ENDPOINT_STATUS)


def test_endpoint_bundle_gives_per_endpoint_status_and_active_count() -> None:
    raw = fixture_bytes("epic_endpoint_bundle_r4.json")
    bundle = json.loads(raw)
    endpoints = [e["resource"] for e in bundle["entry"]]
    first = endpoints[0]
    mapped = service("health.kp-georgia", "health")
    now = parse_rfc3339(bundle["timestamp"]) + 60
    result = parse_fhir_endpoints(raw, context(now, FHIR, {first["id"]: mapped}))
    assert result.rejections == []
    kpi = next(o for o in result.observations if o.kind is Kind.KPI)
    active = sum(1 for e in endpoints if e["status"] == "active")
    assert (kpi.value, kpi.attrs["endpoints_total"]) == (active, len(endpoints))
    report = next(o for o in result.observations if o.service_id == mapped.service_id)
    assert report.status is Status.UP
    # Bundle.timestamp (when the directory was built), at the wire's millisecond precision.
    assert report.observed_at == pytest.approx(now - 60, abs=1e-3)
    assert report.attrs["address"] == first["address"]
    assert result.skipped["unmapped_endpoint"] == len(endpoints) - 1


def test_endpoint_statuses_and_bad_entries() -> None:
    def endpoint(rid: str, status: object) -> dict[str, object]:
        return {
            "resourceType": "Endpoint",
            "id": rid,
            "status": status,
            "address": f"https://{rid}",
        }

    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            {"resource": endpoint("a", "active")},
            {"resource": endpoint("s", "suspended")},
            {"resource": endpoint("e", "error")},
            {"resource": endpoint("t", "test")},
            {"resource": endpoint("x", "exploded")},
            {"resource": {"resourceType": "Organization", "id": "o"}},
            {"resource": "not an object"},
        ],
    }
    services = {k: service(f"svc.{k}", "health") for k in "asetx"}
    result = parse_fhir_endpoints(orjson.dumps(bundle), context(NOW, None, services))
    statuses = {o.service_id: o.status for o in result.observations}
    assert statuses == {"svc.a": Status.UP, "svc.s": Status.DOWN, "svc.e": Status.DOWN}
    assert sorted((r.reason, r.field) for r in result.rejections) == [
        ("invalid_field", "entry[4].resource.status"),
        ("invalid_field", "entry[6].resource"),
    ]
    assert result.skipped == {"endpoint_test": 1, "not_an_endpoint": 1}


def test_non_fhir_input_is_rejected_for_endpoints() -> None:
    for raw, reason in [
        (b"{", "malformed_json"),
        (b"[1, 2]", "unexpected_format"),
        (fixture_bytes("cerner_conformance_dstu2.json"), "unexpected_format"),
    ]:
        result = parse_fhir_endpoints(raw, context(NOW, FHIR))
        assert [r.reason for r in result.rejections] == [reason]
