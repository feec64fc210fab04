"""Incidents, acknowledgements, correlation and indicators through the real stack."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest
from influxdb_client.client.influxdb_client import InfluxDBClient

from pipeline.config.settings import Settings
from pipeline.core.schema import Kind, Status
from tests.support.observations import make_obs
from tests.support.stack import (
    WorkerProcess,
    eventually,
    produce,
    prometheus_query,
    read_topic,
    worker_env,
)

pytestmark = pytest.mark.integration


def events_of(settings: Settings, at_least: int) -> list[dict[str, Any]]:
    return read_topic(settings, settings.topics.incidents, at_least=at_least, timeout=30)


def test_outages_become_incidents_with_indicators_and_a_correlation_finding(
    settings: Settings, start_worker: Callable[..., WorkerProcess]
) -> None:
    start_worker()
    run = settings.app_id
    grid, mobile = f"{run}.grid", f"{run}.mobile"
    region = f"XX-{run[-4:]}"
    now = time.time()

    def report(service: str, at: float, **fields: Any) -> tuple[bytes, bytes]:
        obs = make_obs(service, at=at, region=region, **fields)
        return service.encode(), obs.to_json()

    energy = {
        "kind": Kind.OUTAGE_REPORT,
        "status": None,
        "operator_id": "op-grid",
        "sector": "energy",
        "customers_served": 1000,
    }
    telecom = {"kind": Kind.STATUS_REPORT, "operator_id": "op-mobile", "sector": "telecom"}
    produce(
        settings,
        [
            report(grid, now - 520, customers_affected=0, **energy),
            report(grid, now - 500, customers_affected=1000, **energy),
            report(mobile, now - 420, status=Status.UP, **telecom),
            report(mobile, now - 400, status=Status.DOWN, **telecom),
            report(grid, now - 140, customers_affected=0, **energy),
        ],
    )
    seen = events_of(settings, at_least=3)
    assert sorted((e["incident"]["service"]["service_id"], e["event"]) for e in seen) == sorted(
        [(grid, "detected"), (grid, "restored"), (mobile, "detected")]
    )
    restored = next(e["incident"] for e in seen if e["event"] == "restored")
    assert (restored["started_at"], restored["restored_at"]) == (
        pytest.approx(now - 500, abs=1e-3),
        pytest.approx(now - 140, abs=1e-3),
    )

    # An operator acknowledges through the CLI; the worker owning the service applies it.
    env = {**os.environ, **worker_env(settings)}
    subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "incidents", "ack", mobile, "--by", "noc-team"],
        env=env,
        check=True,
        capture_output=True,
    )
    acked = eventually(
        lambda: [e for e in events_of(settings, at_least=4) if e["event"] == "acknowledged"],
        timeout=30,
        what="the acknowledgement",
    )
    assert acked[0]["incident"]["ack_by"] == "noc-team"

    # A service the workers have never heard of: refused, nothing sent.
    unknown = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "incidents", "ack", f"{run}.nope", "--by", "x"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert unknown.returncode == 1, unknown.stdout
    assert f"unknown service '{run}.nope'" in unknown.stderr
    assert "sent" not in unknown.stdout

    # The ledger worker correlates on its own cadence, after other anomalies may have landed.
    findings = eventually(
        lambda: [
            a
            for a in read_topic(settings, settings.topics.anomalies, at_least=1, timeout=5)
            if a.get("type") == "concurrent_disruption"
        ],
        timeout=60,
        what="a concurrent-disruption finding",
    )
    assert set(findings[-1]["operators"]) == {"op-grid", "op-mobile"}
    assert len(findings[-1]["incident_ids"]) == 2

    def indicator(metric: str, key: str, **labels: str) -> float | None:
        selector = ",".join(
            [f'test_run="{run}"', 'dimension="service"', f'key="{key}"', 'window="1h"']
            + [f'{k}="{v}"' for k, v in labels.items()]
        )
        result = prometheus_query(settings, f"{metric}{{{selector}}}")
        return float(result[0]["value"][1]) if result else None

    availability = eventually(
        lambda: indicator("continuity_availability_ratio", grid, maintenance="included"),
        what="availability in Prometheus",
    )
    assert availability == pytest.approx(1 - 360 / 3600, abs=2e-3)
    # IEEE 1366: 1000 customers out for 6 minutes (sustained: > 5 min) over 1000 served:
    # SAIDI = 1000 x 6 min / 1000 = 6 min, SAIFI = 1000 / 1000 = 1.
    assert indicator("continuity_saidi_seconds", grid) == pytest.approx(360.0, abs=1.0)
    assert indicator("continuity_saifi_interruptions", grid) == pytest.approx(1.0)

    def incident_points() -> list[str]:
        query = (
            f'from(bucket: "{settings.influx_bucket}") |> range(start: -1h)'
            ' |> filter(fn: (r) => r._measurement == "incident" and r._field == "incident_id")'
        )
        with InfluxDBClient(url=settings.influx_url, token=settings.influx_token, org="-") as c:
            return sorted(
                str(r.values["event"]) for t in c.query_api().query(query) for r in t.records
            )

    def enough_points() -> list[str] | None:
        found = incident_points()
        return found if len(found) >= 4 else None

    points = eventually(enough_points, what="incident points in InfluxDB")
    assert points == ["acknowledged", "detected", "detected", "restored"]
    assert read_topic(settings, settings.topics.indicators, at_least=10)


def test_ack_without_any_worker_state_says_what_to_start(settings: Settings) -> None:
    """No worker of this app id ever ran: the CLI says so instead of sending into the void."""
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "incidents", "ack", "svc", "--by", "x"],
        env={**os.environ, **worker_env(settings)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert f"no worker state on Kafka at {settings.kafka_bootstrap}" in done.stderr
    assert f"start a worker with CW_APP_ID={settings.app_id}" in done.stderr
