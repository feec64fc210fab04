from __future__ import annotations

import json

import orjson

from connectors.parsers.statuspage import COMPONENT_STATUS, parse_statuspage
from pipeline.core.schema import Status
from pipeline.core.timeutil import parse_rfc3339

from .conftest import context, fixture_bytes, service

NAME = "githubstatus_summary_2022-11-25_incident.json"
PAGE = service("gh.page")


def test_github_incident_snapshot_maps_components_and_indicator() -> None:
    raw = fixture_bytes(NAME)
    doc = json.loads(raw)
    updated = parse_rfc3339(doc["page"]["updated_at"])
    services = {c["name"]: service(f"gh.{c['id']}") for c in doc["components"]}
    result = parse_statuspage(raw, context(updated + 60, PAGE, services))
    assert result.rejections == []
    by_service = {o.service_id: o for o in result.observations}
    for component in doc["components"]:
        observation = by_service[f"gh.{component['id']}"]
        assert observation.status is COMPONENT_STATUS[component["status"]]
        assert observation.observed_at == updated
    # The snapshot is taken during a Packages partial outage; the page says "minor".
    packages = next(c for c in doc["components"] if c["name"] == "Packages")
    assert by_service[f"gh.{packages['id']}"].status is Status.DEGRADED
    assert doc["status"]["indicator"] == "minor"
    assert by_service[PAGE.service_id].status is Status.DEGRADED


def test_unchanged_page_gives_the_same_event_ids_on_every_poll() -> None:
    raw = fixture_bytes(NAME)
    updated = parse_rfc3339(json.loads(raw)["page"]["updated_at"])
    first = parse_statuspage(raw, context(updated + 10, PAGE)).observations
    second = parse_statuspage(raw, context(updated + 70, PAGE)).observations
    assert [o.event_id for o in first] == [o.event_id for o in second]


def test_bad_component_status_rejects_only_that_component() -> None:
    doc = {
        "page": {"updated_at": "2024-01-01T00:00:00Z"},
        "components": [
            {"id": "a", "name": "A", "status": "major_outage"},
            {"id": "b", "name": "B", "status": "on_fire"},
        ],
        "status": {"indicator": "critical"},
    }
    services = {"a": service("svc.a"), "b": service("svc.b")}
    result = parse_statuspage(orjson.dumps(doc), context(1_704_067_300.0, PAGE, services))
    assert [(o.service_id, o.status) for o in result.observations] == [
        ("svc.a", Status.DOWN),
        (PAGE.service_id, Status.DOWN),
    ]
    assert [(r.reason, r.field) for r in result.rejections] == [
        ("invalid_field", "components[1].status")
    ]


def test_missing_page_time_is_rejected() -> None:
    result = parse_statuspage(b'{"components": []}', context(0.0, PAGE))
    assert [(r.reason, r.field) for r in result.rejections] == [
        ("missing_field", "page.updated_at")
    ]
