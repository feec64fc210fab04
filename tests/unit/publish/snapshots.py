"""A small inventory for the publication tests: two regions, four operators."""

from __future__ import annotations

from pipeline.publish.records import IncidentRecord, ServiceState, Snapshot

NOW = 1_780_000_000.0


def service(sid: str, op: str, sector: str, region: str, status: str = "up") -> ServiceState:
    return ServiceState(sid, op, sector, region, status, NOW - 3600, "evidence", 1000, None)


SERVICES = (
    # energy / UA-30: two operators, three services -> published
    service("grid.a1", "op-a", "energy", "UA-30", "down"),
    service("grid.a2", "op-a", "energy", "UA-30"),
    service("grid.b1", "op-b", "energy", "UA-30"),
    # energy / UA-46: one small operator alone -> pooled, still too small -> withheld
    service("grid.small", "op-small", "energy", "UA-46", "down"),
    # health / EE-78: three services but one operator -> withheld
    service("fhir.h1", "op-h", "health", "EE-78"),
    service("fhir.h2", "op-h", "health", "EE-78"),
    service("fhir.h3", "op-h", "health", "EE-78"),
)

INCIDENTS = (
    IncidentRecord(
        "grid.a1/1", "grid.a1", "op-a", "energy", "UA-30", NOW - 3000, NOW - 2990,
        customers_affected=700,
    ),
    IncidentRecord(
        "grid.small/1", "grid.small", "op-small", "energy", "UA-46", NOW - 2000, NOW - 1990,
        customers_affected=40,
    ),
    IncidentRecord(
        "grid.b1/1", "grid.b1", "op-b", "energy", "UA-30", NOW - 90_000, NOW - 89_990,
        restored_at=NOW - 86_000, customers_affected=300,
    ),
    IncidentRecord(
        "fhir.h1/1", "fhir.h1", "op-h", "health", "EE-78", NOW - 5000, NOW - 4990,
        restored_at=NOW - 4000, severity="down",
    ),
)  # fmt: skip


def snapshot(as_of: float = NOW) -> Snapshot:
    return Snapshot(as_of, SERVICES, INCIDENTS)
