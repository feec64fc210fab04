"""InfluxSink against the real InfluxDB: batched writes, retries and a bounded buffer."""

from __future__ import annotations

from dataclasses import replace

import pytest
from influxdb_client.client.influxdb_client import InfluxDBClient
from prometheus_client import CollectorRegistry

from pipeline.config.settings import Settings
from pipeline.core.schema import Kind, Observation, Status
from pipeline.metrics.worker import WorkerMetrics
from pipeline.monitoring.status import StatusChange
from pipeline.sinks.influx import InfluxSink, evidence_point, status_point
from pipeline.sinks.line_protocol import EvidenceLines
from tests.support.stack import free_port

pytestmark = pytest.mark.integration

T0 = 1_700_000_000.0


def change(i: int, status: Status = Status.DOWN) -> StatusChange:
    return StatusChange(
        service_id=f"svc-{i % 7}",
        operator_id="op",
        sector="telecom",
        region="UA-30",
        previous=Status.UP,
        current=status,
        at=T0 + i,
        reason="evidence",
        event_id=f"e{i}",
        customers_served=1000,
        customers_affected=400,
    )


def test_batches_are_written_and_read_back_with_flux(settings: Settings) -> None:
    metrics = WorkerMetrics(CollectorRegistry())
    with InfluxDBClient(url=settings.influx_url, token=settings.influx_token, org="-") as client:
        sink = InfluxSink(
            client, bucket=settings.influx_bucket, org="-", metrics=metrics, batch_size=40
        )
        for i in range(100):
            sink.add(status_point(change(i)))
        assert sink.flush() == 100
        assert len(sink) == 0
        tables = client.query_api().query(
            f'from(bucket: "{settings.influx_bucket}") |> range(start: 2023-01-01T00:00:00Z)'
            ' |> filter(fn: (r) => r._field == "customers_affected") |> group() |> count()'
        )
    assert [r.get_value() for t in tables for r in t.records] == [100]
    assert (
        metrics.registry.get_sample_value(
            "continuity_sink_points_total", {"sink": "influxdb", "result": "written"}
        )
        == 100
    )


def test_unreachable_server_keeps_points_and_bounds_the_buffer(settings: Settings) -> None:
    metrics = WorkerMetrics(CollectorRegistry())
    dead = f"http://127.0.0.1:{free_port()}"
    with InfluxDBClient(url=dead, token="x", org="-", timeout=500) as client:
        sink = InfluxSink(
            client,
            bucket="nowhere/autogen",
            org="-",
            metrics=metrics,
            max_buffer=50,
            retries=2,
            sleep=lambda _s: None,
        )
        for i in range(60):
            sink.add(status_point(change(i)))
        assert sink.flush() == 0
    assert len(sink) == 50
    assert (
        metrics.registry.get_sample_value(
            "continuity_sink_points_total", {"sink": "influxdb", "result": "dropped"}
        )
        == 10
    )
    assert (
        metrics.registry.get_sample_value(
            "continuity_sink_points_total", {"sink": "influxdb", "result": "retried"}
        )
        == 2 * 50
    )


def test_a_refused_point_is_counted_and_never_blocks_the_rest(settings: Settings) -> None:
    """Issue 17: one int beyond int64 made every flush a 400 and the batch was retried forever."""
    metrics = WorkerMetrics(CollectorRegistry())
    huge = replace(change(3), customers_served=18446744073709551615, service_id="svc-huge")
    with InfluxDBClient(url=settings.influx_url, token=settings.influx_token, org="-") as client:
        sink = InfluxSink(client, bucket=settings.influx_bucket, org="-", metrics=metrics)
        for i in range(20):
            sink.add(status_point(change(i)))
        sink.add(status_point(huge))
        for i in range(20, 40):
            sink.add(status_point(change(i)))
        assert sink.flush() == 40
        assert len(sink) == 0
        tables = client.query_api().query(
            f'from(bucket: "{settings.influx_bucket}") |> range(start: 2023-01-01T00:00:00Z)'
            ' |> filter(fn: (r) => r._field == "status") |> group() |> count()'
        )
    assert [r.get_value() for t in tables for r in t.records] == [40]
    assert (
        metrics.registry.get_sample_value(
            "continuity_sink_points_total", {"sink": "influxdb", "result": "rejected"}
        )
        == 1
    )


def test_evidence_lines_and_points_are_written_alike(settings: Settings) -> None:
    """The worker's evidence lines (strings) and the client's Points share one buffer and one
    write; InfluxDB reads back the same series for both, awkward tag values included."""
    metrics = WorkerMetrics(CollectorRegistry())
    lines = EvidenceLines()
    services = ["svc a", "svc,b", "svc=c", "svc\\d", "svc-é"]

    def probe(i: int, vantage: str) -> Observation:
        return Observation(
            event_id=f"e{i}", operator_id="op 1", service_id=services[i % 5],
            sector="telecom", region="UA-30", kind=Kind.PROBE, observed_at=T0 + i,
            source="t", vantage=vantage, status=Status.DOWN if i % 2 else Status.UP,
            value=i / 4,
        )  # fmt: skip

    with InfluxDBClient(url=settings.influx_url, token=settings.influx_token, org="-") as client:
        sink = InfluxSink(
            client, bucket=settings.influx_bucket, org="-", metrics=metrics, batch_size=15
        )
        for i in range(20):
            line = lines.line(probe(i, "as line"))
            point = evidence_point(probe(i, "as point"))
            assert line is not None
            assert point is not None
            sink.add_many([line, point])
        sink.add(status_point(change(0)))
        assert sink.flush() == 41
        tables = client.query_api().query(
            f'from(bucket: "{settings.influx_bucket}") |> range(start: 2023-01-01T00:00:00Z)'
            ' |> filter(fn: (r) => r._measurement == "evidence")'
            ' |> group(columns: ["vantage", "service_id", "_field"]) |> sum()'
        )
    sums = {
        (r.values["vantage"], r.values["service_id"], r.get_field()): r.get_value()
        for t in tables
        for r in t.records
    }
    assert len(sums) == 2 * 5 * 2  # vantages x services x (severity, value)
    for (vantage, service, field), total in sums.items():
        twin = "as point" if vantage == "as line" else "as line"
        assert sums[(twin, service, field)] == total, (service, field)
    assert sums[("as line", "svc\\d", "value")] == sum(i / 4 for i in range(3, 20, 5))
