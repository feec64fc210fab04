"""FluxReader against the real InfluxDB: points written by the worker's own sink functions."""

from __future__ import annotations

import time

import pytest
from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS

from pipeline.config.settings import Settings
from pipeline.core.schema import Status
from pipeline.incidents.model import Incident, IncidentEvent, ServiceRef
from pipeline.indicators.rollup import IndicatorValue
from pipeline.monitoring.status import StatusChange
from pipeline.publish.reader import FluxReader
from pipeline.sinks.influx import incident_point, indicator_point, status_point

pytestmark = pytest.mark.integration

AVAIL = "availability_incl_maintenance"


def change(
    at: float, previous: Status | None, current: Status, affected: int | None
) -> StatusChange:
    return StatusChange(
        "grid.r1", "op-r", "energy", "UA-30", previous, current, at, "evidence", None, 1000,
        affected,
    )  # fmt: skip


def test_snapshot_reads_latest_states_and_incident_lifecycles_bounded_by_stop(
    settings: Settings,
) -> None:
    t0 = time.time() - 3600
    ref = ServiceRef("grid.r1", "op-r", "energy", "UA-30", 1000)
    incident = Incident("grid.r1/1", ref, t0 + 10, t0 + 20, customers_affected=600)
    restored = incident.snapshot()
    restored.restored_at = t0 + 100
    points = [
        status_point(change(t0, None, Status.UP, 0)),
        status_point(change(t0 + 10, Status.UP, Status.DOWN, 600)),
        status_point(change(t0 + 100, Status.DOWN, Status.UP, None)),
        incident_point(IncidentEvent("detected", t0 + 20, incident)),
        incident_point(IncidentEvent("restored", t0 + 100, restored)),
        indicator_point(IndicatorValue(AVAIL, "sector", "energy", "1h", 0.97), t0 + 40),
        indicator_point(IndicatorValue(AVAIL, "sector", "energy", "1h", 0.98), t0 + 110),
    ]
    with InfluxDBClient(url=settings.influx_url, token=settings.influx_token, org="-") as client:
        client.write_api(write_options=SYNCHRONOUS).write(
            bucket=settings.influx_bucket, org="-", record=points
        )
        reader = FluxReader(client.query_api(), settings.influx_bucket)

        now = reader.snapshot(t0 + 200, with_indicators=True)
        assert [(s.service_id, s.status, s.customers_affected) for s in now.services] == [
            ("grid.r1", "up", None)
        ]
        [inc] = now.incidents
        assert (inc.incident_id, inc.last_event, inc.restored_at) == (
            "grid.r1/1",
            "restored",
            t0 + 100,
        )
        assert inc.customers_affected == 600
        assert inc.time_to_restore_s == pytest.approx(80.0)
        assert [(i.name, i.value) for i in now.indicators] == [
            ("availability_incl_maintenance", 0.98)
        ]

        # As of a moment during the outage (a delayed public view), nothing later is read.
        then = reader.snapshot(t0 + 50, with_indicators=True)
        assert [(s.status, s.customers_affected) for s in then.services] == [("down", 600)]
        assert [(i.last_event, i.restored_at) for i in then.incidents] == [("detected", None)]
        assert [i.value for i in then.indicators] == [0.97]
