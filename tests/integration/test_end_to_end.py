"""Observation → Kafka → worker → Prometheus (via its HTTP API) and InfluxDB (via Flux)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from influxdb_client.client.influxdb_client import InfluxDBClient

from pipeline.config.settings import Settings
from pipeline.core.schema import Kind, Status
from tests.support.observations import make_obs
from tests.support.stack import WorkerProcess, eventually, produce, prometheus_query, read_topic

pytestmark = pytest.mark.integration


def flux_statuses(settings: Settings, service_id: str) -> list[tuple[str, str]]:
    query = f'''
from(bucket: "{settings.influx_bucket}")
  |> range(start: -1h)
  |> filter(fn: (r) => r._measurement == "service_status" and r.service_id == "{service_id}")
  |> filter(fn: (r) => r._field == "status" or r._field == "reason")
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> sort(columns: ["_time"])
'''
    with InfluxDBClient(
        url=settings.influx_url, token=settings.influx_token, org=settings.influx_org
    ) as client:
        tables = client.query_api().query(query)
    return [(str(r["status"]), str(r["reason"])) for t in tables for r in t.records]


def test_simulated_outage_reaches_prometheus_and_influxdb(
    settings: Settings, start_worker: Callable[..., WorkerProcess]
) -> None:
    start_worker()
    prefix = settings.app_id
    grid, quiet = f"{prefix}.grid", f"{prefix}.quiet"
    now = time.time()
    produce(
        settings,
        [
            (
                grid.encode(),
                make_obs(
                    grid,
                    at=now - 2,
                    kind=Kind.OUTAGE_REPORT,
                    status=None,
                    customers_served=1200,
                    customers_affected=0,
                ).to_json(),
            ),
            (
                grid.encode(),
                make_obs(
                    grid,
                    at=now - 1,
                    kind=Kind.OUTAGE_REPORT,
                    status=None,
                    customers_served=1200,
                    customers_affected=1200,
                ).to_json(),
            ),
            (
                quiet.encode(),
                make_obs(
                    quiet,
                    at=now,
                    kind=Kind.HEARTBEAT,
                    status=None,
                    attrs={"expected_interval_s": 1.0},
                ).to_json(),
            ),
        ],
    )

    def down_in_prometheus() -> set[str]:
        result = prometheus_query(
            settings,
            f'continuity_service_status{{test_run="{settings.app_id}", status="down"}} == 1',
        )
        found = {r["metric"]["service_id"] for r in result}
        return found if found == {grid, quiet} else set()

    eventually(down_in_prometheus, timeout=60, what="both services down in Prometheus")

    def history(service_id: str, points: int) -> list[tuple[str, str]] | None:
        found = flux_statuses(settings, service_id)
        return found if len(found) >= points else None

    grid_history = eventually(lambda: history(grid, 2), what="grid points in InfluxDB")
    assert grid_history == [("up", "evidence"), ("down", "evidence")]
    quiet_history = eventually(lambda: history(quiet, 3), what="silence points in InfluxDB")
    assert quiet_history == [("up", "evidence"), ("unknown", "silence"), ("down", "silence")]

    changes = read_topic(settings, settings.topics.status, at_least=5)
    assert sorted((c["service_id"], c["status"]) for c in changes) == sorted(
        [(grid, "up"), (grid, "down"), (quiet, "up"), (quiet, "unknown"), (quiet, "down")]
    )
    assert all(c["status"] != Status.UP.value or c["previous"] is None for c in changes)


def test_every_dashboard_panel_query_runs_on_the_real_servers(
    settings: Settings, start_worker: Callable[..., WorkerProcess]
) -> None:
    from pipeline.dashboards.grafana import BUCKET_VAR
    from pipeline.dashboards.grafana import PIPELINE_DASHBOARDS as DASHBOARDS

    start_worker()
    service = f"{settings.app_id}.panel"
    produce(
        settings,
        [
            (
                service.encode(),
                make_obs(
                    service, at=time.time() - 1, kind=Kind.STATUS_REPORT, status=Status.UP
                ).to_json(),
            ),
            (
                service.encode(),
                make_obs(
                    service,
                    at=time.time(),
                    kind=Kind.STATUS_REPORT,
                    status=Status.DOWN,
                    customers_served=10,
                    customers_affected=10,
                ).to_json(),
            ),
            (
                service.encode(),
                make_obs(
                    service, at=time.time() + 1, kind=Kind.STATUS_REPORT, status=Status.UP
                ).to_json(),
            ),
            (b"bad", b"{ not an observation"),
        ],
    )
    eventually(lambda: len(flux_statuses(settings, service)) >= 3, what="points to query")
    eventually(
        lambda: prometheus_query(settings, f'continuity_service_status{{service_id="{service}"}}'),
        what="the worker to be scraped",
    )
    with InfluxDBClient(url=settings.influx_url, token=settings.influx_token, org="-") as client:

        def run(query: str, datasource: str) -> list[object]:
            if datasource == "prometheus":
                return list(prometheus_query(settings, query))
            flux = (
                query.replace(BUCKET_VAR, settings.influx_bucket)
                .replace("v.timeRangeStart", "-1h")
                .replace("v.timeRangeStop", "now()")
            )
            return [r for t in client.query_api().query(flux) for r in t.records]

        for dashboard in DASHBOARDS:
            for panel in dashboard.panels:
                # Rates need two scrapes, so give each panel a few seconds to fill.
                eventually(
                    lambda p=panel: run(p.query, p.datasource),  # type: ignore[misc]
                    timeout=30,
                    what=f"panel {panel.title!r} to return data",
                )
