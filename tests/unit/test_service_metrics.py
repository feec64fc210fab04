from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from pipeline.metrics.service_status import ServiceStatusExport


def test_state_set_has_one_series_per_status_and_follows_updates() -> None:
    registry = CollectorRegistry()
    export = ServiceStatusExport(registry)
    labels = {"service_id": "s", "operator_id": "op", "sector": "health", "region": "EE"}
    export.update("s", "op", "health", "EE", "up", 100.0)
    export.update_stored({"state": {**labels, "status": "down", "last_evidence_at": 160.0}})

    def value(name: str, **extra: str) -> float | None:
        return registry.get_sample_value(name, {**labels, **extra})

    statuses = ["up", "degraded", "down", "unknown", "maintenance"]
    assert [value("continuity_service_status", status=s) for s in statuses] == [
        0.0,
        0.0,
        1.0,
        0.0,
        0.0,
    ]
    assert value("continuity_service_last_evidence_timestamp_seconds") == 160.0
    export.drop("s")
    assert value("continuity_service_status", status="down") is None
    assert b"# TYPE continuity_service_status gauge" in generate_latest(registry)
