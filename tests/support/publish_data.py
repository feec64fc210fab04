"""History for the publication tests, written to InfluxDB with the worker's own sink
functions (``status_point``, ``incident_point``), plus the configs that name its audiences."""

from __future__ import annotations

import hashlib
from pathlib import Path

from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS

from pipeline.config.settings import Settings
from pipeline.core.schema import Status
from pipeline.incidents.model import Incident, IncidentEvent, ServiceRef
from pipeline.monitoring.status import StatusChange
from pipeline.sinks.influx import incident_point, status_point

TOKENS = {"op-a": "token-a", "op-b": "token-b"}
VERIFIER_TOKEN = "verifier-token"
SECRET_HOST = "fhir.h4.hospital.example.org"

#: (service, operator, sector, region, final status, customers affected while down)
SERVICES = (
    ("grid.a1", "op-a", "energy", "UA-30", Status.DOWN, 700),
    ("grid.a2", "op-a", "energy", "UA-30", Status.UP, None),
    ("grid.b1", "op-b", "energy", "UA-30", Status.UP, None),
    ("grid.small", "op-small", "energy", "UA-46", Status.DOWN, 40),
    ("fhir.h1", "op-h", "health", "EE-78", Status.UP, None),
    ("fhir.h2", "op-h", "health", "EE-78", Status.UP, None),
    ("fhir.h3", "op-h", "health", "EE-78", Status.UP, None),
    (SECRET_HOST, "op-h", "health", "EE-78", Status.DOWN, None),
)
OPERATORS = {row[1] for row in SERVICES}


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def write_history(settings: Settings, now: float) -> None:
    """Every service up an hour ago; the down ones failed 10 minutes ago (open incidents);
    grid.b1 had an outage yesterday, restored after 40 minutes."""
    points = []
    for sid, op, sector, region, final, affected in SERVICES:
        ref = ServiceRef(sid, op, sector, region, 1000)
        points.append(status_point(_change(ref, None, Status.UP, now - 3600, 0)))
        if final is Status.DOWN:
            points.append(status_point(_change(ref, Status.UP, Status.DOWN, now - 600, affected)))
            inc = Incident(f"{sid}/1", ref, now - 600, now - 590, customers_affected=affected)
            points.append(incident_point(IncidentEvent("detected", now - 590, inc)))
    ref_b = ServiceRef("grid.b1", "op-b", "energy", "UA-30", 1000)
    past = Incident("grid.b1/0", ref_b, now - 90_000, now - 89_990, customers_affected=300)
    points.append(incident_point(IncidentEvent("detected", now - 89_990, past)))
    restored = past.snapshot()
    restored.restored_at = now - 87_600
    points.append(incident_point(IncidentEvent("restored", now - 87_600, restored)))
    with InfluxDBClient(url=settings.influx_url, token=settings.influx_token, org="-") as client:
        client.write_api(write_options=SYNCHRONOUS).write(
            bucket=settings.influx_bucket, org="-", record=points
        )


def _change(
    ref: ServiceRef, previous: Status | None, current: Status, at: float, affected: int | None
) -> StatusChange:
    return StatusChange(
        ref.service_id, ref.operator_id, ref.sector, ref.region, previous, current, at,
        "evidence", None, ref.customers_served, affected,
    )  # fmt: skip


def write_configs(folder: Path) -> tuple[Path, Path]:
    """A connectors deployment config (operator tokens) and a publication config."""
    deployment = folder / "deployment.yaml"
    lines = ["version: 1", "operators:"]
    for op, token in TOKENS.items():
        sid = next(row[0] for row in SERVICES if row[1] == op)
        lines += [
            f"  - id: {op}",
            f'    token_sha256: "{digest(token)}"',
            "    services:",
            f"      - {{id: {sid}, sector: energy, region: UA-30, expected_interval_s: 60}}",
        ]
    deployment.write_text("\n".join(lines) + "\n", encoding="utf-8")
    publish = folder / "publish.yaml"
    publish.write_text(
        f"""version: 1
verifiers:
  - id: osce
    token_sha256: "{digest(VERIFIER_TOKEN)}"
links:
  notices_feed: https://notices.example.net/feed.atom
""",
        encoding="utf-8",
    )
    return deployment, publish
