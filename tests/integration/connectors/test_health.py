"""FHIR: /metadata probes of a real local HTTP server and Endpoint directories, into Kafka."""

from __future__ import annotations

import time

import orjson
import pytest

from pipeline.core.schema import Kind, Status
from pipeline.core.timeutil import parse_rfc3339

from .conftest import AppThread, Connectors, Route, fixture_bytes, operator, sent, service

pytestmark = pytest.mark.integration

CAPABILITY_SAMPLES = {
    "smart-bulk": "smart_bulk_server_capabilitystatement_stu3.json",
    "epic": "epic_capabilitystatement_stu3.json",
    "cerner": "cerner_conformance_dstu2.json",
}


def test_fhir_metadata_probes_up_for_capability_statements_down_for_500_and_timeout(
    connectors: Connectors, http: AppThread
) -> None:
    routes = {
        f"/{name}/metadata": Route(body=fixture_bytes(sample))
        for name, sample in CAPABILITY_SAMPLES.items()
    }
    routes["/broken/metadata"] = Route(status=500, body=b'{"resourceType": "OperationOutcome"}')
    routes["/slow/metadata"] = Route(body=fixture_bytes(CAPABILITY_SAMPLES["epic"]), delay_s=1.5)
    routes["/patient-portal/metadata"] = Route(body=b'{"resourceType": "Patient", "id": "1"}')
    server = http.static(routes)
    names = [*CAPABILITY_SAMPLES, "broken", "slow", "patient-portal"]
    services = [service(f"health.{name}", "health", region="US") for name in names]
    feeds = [
        {
            "id": f"{name}-metadata",
            "type": "fhir_metadata",
            "url": server.url(f"/{name}/metadata"),
            "interval_s": 60,
            "timeout_s": 0.5 if name == "slow" else 5.0,
            "service": f"health.{name}",
            "options": {"vantage": "test-vantage"},
        }
        for name in names
    ]
    config = connectors.config([operator("hospital", services, feeds)])

    started = time.time()
    results = connectors.run(config, time.time)

    produced, rejections = sent(results)
    assert rejections == []
    probes = {o.service_id: o for o in connectors.observations(time.time())}
    assert {o.to_json() for o in probes.values()} == {o.to_json() for o in produced}
    assert len(probes) == len(names)
    for name, sample in CAPABILITY_SAMPLES.items():
        probe = probes[f"health.{name}"]
        declared = orjson.loads(fixture_bytes(sample))
        assert (probe.kind, probe.status, probe.vantage) == (Kind.PROBE, Status.UP, "test-vantage")
        assert probe.metric == "latency"
        assert probe.value is not None
        assert 0 < probe.value < 5.0
        assert probe.attrs["fhirVersion"] == declared["fhirVersion"]
        assert probe.attrs["http_status"] == 200
        assert "error" not in probe.attrs
        assert started <= probe.observed_at <= time.time()
    broken, slow, wrong = (probes[f"health.{n}"] for n in ("broken", "slow", "patient-portal"))
    assert (broken.status, broken.attrs["error"], broken.attrs["http_status"]) == (
        Status.DOWN,
        "HTTP 500",
        500,
    )
    assert slow.status is Status.DOWN
    assert "TimeoutError" in slow.attrs["error"]
    assert wrong.status is Status.DOWN
    assert "'Patient'" in wrong.attrs["error"]
    assert all(p.value is None for p in (broken, slow, wrong))


def test_fhir_endpoint_bundles_report_status_and_active_counts(
    connectors: Connectors, http: AppThread
) -> None:
    hl7 = orjson.loads(fixture_bytes("endpoint_bundle_hl7_sample_14.json"))
    # The real directory with one endpoint suspended, as a directory shows an outage.
    suspended_id = hl7["entry"][1]["resource"]["id"]
    hl7["entry"][1]["resource"]["status"] = "suspended"
    epic_raw = fixture_bytes("epic_endpoint_bundle_r4.json")
    epic = orjson.loads(epic_raw)
    server = http.static(
        {
            "/hl7/Endpoint": Route(body=orjson.dumps(hl7), content_type="application/fhir+json"),
            "/epic/Endpoint": Route(body=epic_raw, content_type="application/fhir+json"),
        }
    )
    first_id = hl7["entry"][0]["resource"]["id"]
    epic_address = epic["entry"][0]["resource"]["address"]
    services = [
        service("health.dir.hl7", "health", region="US"),
        service("health.dir.epic", "health", region="US"),
        service("health.ep.first", "health", region="US"),
        service("health.ep.suspended", "health", region="US"),
        service("health.ep.epic", "health", region="US"),
    ]
    feeds = [
        {
            "id": "hl7-directory",
            "type": "fhir_endpoints",
            "url": server.url("/hl7/Endpoint"),
            "interval_s": 3600,
            "service": "health.dir.hl7",
            "map": {first_id: "health.ep.first", suspended_id: "health.ep.suspended"},
        },
        {
            "id": "epic-directory",
            "type": "fhir_endpoints",
            "url": server.url("/epic/Endpoint"),
            "interval_s": 3600,
            "service": "health.dir.epic",
            "map": {epic_address: "health.ep.epic"},  # mapped by address, not id
        },
    ]
    config = connectors.config([operator("hospital", services, feeds)])
    epic_time = parse_rfc3339(epic["timestamp"])
    now = epic_time + 60  # the HL7 bundle has no timestamp: it is stamped with this clock

    results = connectors.run(config, now)

    produced, rejections = sent(results)
    assert rejections == []
    got = connectors.observations(now)
    assert sorted(o.to_json() for o in got) == sorted(o.to_json() for o in produced)
    by_service = {o.service_id: o for o in got}
    assert len(got) == len(by_service) == 5
    assert by_service["health.ep.first"].status is Status.UP
    assert by_service["health.ep.suspended"].status is Status.DOWN
    assert by_service["health.ep.suspended"].attrs["fhir_status"] == "suspended"
    assert by_service["health.ep.epic"].status is Status.UP
    assert by_service["health.ep.epic"].observed_at == pytest.approx(epic_time, abs=1e-3)
    hl7_active = sum(e["resource"]["status"] == "active" for e in hl7["entry"])
    epic_active = sum(e["resource"]["status"] == "active" for e in epic["entry"])
    directory = by_service["health.dir.hl7"]
    assert (directory.metric, directory.value) == ("endpoints_active", float(hl7_active))
    assert directory.attrs["endpoints_total"] == len(hl7["entry"])
    assert directory.observed_at == pytest.approx(now, abs=1e-3)  # the wire keeps ms
    assert by_service["health.dir.epic"].value == float(epic_active)
    unmapped = results["epic-directory"][0].skipped["unmapped_endpoint"]
    assert unmapped == len(epic["entry"]) - 1
