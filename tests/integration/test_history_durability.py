"""InfluxDB history is driven by the status/incidents topics: crashes and outages lose nothing."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.rest import ApiException

from pipeline.bench.chaos_run import OwnInfluxDB
from pipeline.config.settings import Settings
from pipeline.core.schema import Kind, Status
from pipeline.core.timeutil import parse_rfc3339
from tests.support.observations import make_obs
from tests.support.stack import WorkerProcess, eventually, produce, read_to_end

pytestmark = pytest.mark.integration

Row = tuple[str, int, str]


def flapping(settings: Settings, services: int, rounds: range, now: float) -> list[bytes]:
    """Each round every service reports the opposite status: one change per service (and
    none by silence: they promise a report an hour)."""
    out = []
    for r in rounds:
        status = Status.DOWN if r % 2 == 0 else Status.UP
        for i in range(services):
            sid = f"{settings.app_id}.svc-{i}"
            obs = make_obs(
                sid,
                at=now - 100 + r,
                kind=Kind.STATUS_REPORT,
                status=status,
                event_id=f"{sid}-{r}",
                attrs={"expected_interval_s": 3600},
            )
            out.append(obs.to_json())
    return out


def topic_rows(settings: Settings) -> set[Row]:
    records = read_to_end(settings, settings.topics.status)
    return {(r["service_id"], round(parse_rfc3339(r["at"]) * 1000), r["status"]) for r in records}


def all_changes(settings: Settings, count: int) -> set[Row]:
    """The status topic once it holds ``count`` distinct changes."""

    def probe() -> set[Row] | None:
        rows = topic_rows(settings)
        return rows if len(rows) == count else None

    return eventually(probe, what=f"{count} status changes on the topic")


def influx_rows(settings: Settings, url: str) -> set[Row]:
    with InfluxDBClient(url=url, token=settings.influx_token, org="-") as client:
        try:
            tables = client.query_api().query(
                f'from(bucket: "{settings.influx_bucket}") |> range(start: 0)'
                ' |> filter(fn: (r) => r._measurement == "service_status" and r._field == "status")'
            )
        except ApiException:  # the database is created by the worker's first write
            return set()
    return {
        (r.values["service_id"], round(r.get_time().timestamp() * 1000), r.get_value())
        for t in tables
        for r in t.records
    }


def incident_counts(settings: Settings, url: str) -> tuple[int, int]:
    """(distinct incident events in the topic, incident points in InfluxDB)."""
    events = read_to_end(settings, settings.topics.incidents)
    distinct = {(e["incident"]["incident_id"], e["event"], e["at"]) for e in events}
    with InfluxDBClient(url=url, token=settings.influx_token, org="-") as client:
        tables = client.query_api().query(
            f'from(bucket: "{settings.influx_bucket}") |> range(start: 0)'
            ' |> filter(fn: (r) => r._measurement == "incident" and r._field == "incident_id")'
            " |> group() |> count()"
        )
    points = sum(int(r.get_value()) for t in tables for r in t.records)
    return len(distinct), points


def test_kill_9_mid_stream_loses_no_history(
    settings: Settings, start_worker: Callable[..., WorkerProcess]
) -> None:
    """Issue 17: after kill -9 InfluxDB lost the points buffered in the worker's memory."""
    services, now = 40, time.time()
    first = start_worker()
    produce(settings, [(b"k", v) for v in flapping(settings, services, range(0, 3), now)])
    eventually(lambda: len(topic_rows(settings)) >= services, what="first changes")
    first.kill()
    start_worker()
    produce(settings, [(b"k", v) for v in flapping(settings, services, range(3, 6), now)])
    expected = all_changes(settings, 6 * services)

    def influx_matches() -> bool:
        got = influx_rows(settings, settings.influx_url)
        return got == expected

    eventually(influx_matches, what="InfluxDB to hold exactly the status topic")

    def incidents_match() -> int | None:
        events, points = incident_counts(settings, settings.influx_url)
        return events if events == points else None

    assert eventually(incidents_match, what="one incident point per incident event") >= services


def test_worker_runs_while_influxdb_is_down_and_catches_up(
    settings: Settings, start_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    """Issue 17: with InfluxDB down the worker exited at start-up (create-database failed)."""
    services, now = 10, time.time()
    with OwnInfluxDB(tmp_path / "influx") as influx:
        start_worker(influx_url=influx.url)  # nothing listens there yet
        produce(settings, [(b"k", v) for v in flapping(settings, services, range(0, 2), now)])
        expected = all_changes(settings, 2 * services)
        influx.start()
        eventually(
            lambda: influx_rows(settings, influx.url) == expected,
            timeout=60,
            what="InfluxDB to catch up from the topic once it is up",
        )
