"""One chaos run's own namespace and servers: topic prefix, consumer groups, InfluxDB database,
the worker it starts, what it produces and reads back (used by every scenario of
:mod:`pipeline.bench.chaos` and :mod:`pipeline.bench.chaos_broker`).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson
from influxdb_client.client.influxdb_client import InfluxDBClient
from kafka import KafkaProducer

from pipeline.bench.chaos_account import (
    Change,
    account_incidents,
    account_points,
    account_status,
    expected_changes,
    status_change,
)
from pipeline.bench.kafka_io import delete_run, read_topic
from pipeline.bench.workers import BenchWorker, free_port
from pipeline.config.settings import Settings, TopicNames
from pipeline.core.schema import Kind, Observation, Status
from pipeline.ops.influx_admin import drop_database
from pipeline.ops.kafka_security import KafkaSecurity, kafka_python_options
from pipeline.ops.localstack import DEPLOY
from pipeline.ops.topics import ensure_topic_layout


@dataclass
class ChaosRun:
    """One scenario's namespace and helpers."""

    settings: Settings
    services: list[str]
    rounds: int
    t0: float
    workdir: Path
    workers: list[BenchWorker]

    @classmethod
    def create(cls, base: Settings, scenario: str, services: int, rounds: int) -> ChaosRun:
        run = f"chaos{uuid.uuid4().hex[:8]}"
        settings = replace(
            base,
            topics=TopicNames(f"{run}."),
            app_id=f"{run}-worker",
            influx_bucket=f"{run}/autogen",
            command_key=uuid.uuid4().hex,
            silence_check_interval=0.5,
            influx_flush_interval=0.5,
        )
        ensure_topic_layout(
            settings.kafka_bootstrap,
            settings.topics,
            partitions=settings.partitions,
            security=KafkaSecurity.from_settings(settings),
        )
        workdir = Path(tempfile.mkdtemp(prefix=f"{scenario}-{run}-"))
        names = [f"{run}.svc-{i}" for i in range(services)]
        # Whole seconds: event times survive the RFC 3339 round trip exactly.
        return cls(settings, names, rounds, float(int(time.time()) - 120), workdir, [])

    def worker(self, **overrides: Any) -> BenchWorker:
        s = replace(self.settings, **overrides)
        env = {
            "CW_KAFKA_BOOTSTRAP": s.kafka_bootstrap,
            "CW_TOPIC_PREFIX": s.topics.prefix,
            "CW_APP_ID": s.app_id,
            "CW_METRICS_PORT": str(port := free_port()),
            "CW_INFLUX_URL": s.influx_url,
            "CW_INFLUX_BUCKET": s.influx_bucket,
            "CW_SILENCE_CHECK_S": "0.5",
            "CW_INFLUX_FLUSH_S": "0.5",
            "CW_WORKER_DATA_DIR": str(self.workdir / "worker"),
            "CW_COMMAND_KEY": s.command_key or "",
            "CW_REPLICATION_FACTOR": str(s.replication_factor),
            "CW_MIN_INSYNC_REPLICAS": str(s.min_insync_replicas),
        }
        worker = BenchWorker(
            f"w{len(self.workers)}", env, self.workdir / f"w{len(self.workers)}.log", port
        )
        self.workers.append(worker)
        worker.start()
        worker.wait_ready(timeout=180)
        return worker

    def observations(self, rounds: range) -> list[tuple[bytes, bytes]]:
        out = []
        for r in rounds:
            for service in self.services:
                obs = Observation(
                    event_id=f"{service}-{r}",
                    operator_id="op-chaos",
                    service_id=service,
                    sector="energy",
                    region="UA-30",
                    kind=Kind.STATUS_REPORT,
                    observed_at=self.t0 + r,
                    source="chaos",
                    status=Status.DOWN if r % 2 == 0 else Status.UP,
                    attrs={"expected_interval_s": 3600},
                )
                out.append((service.encode(), obs.to_json()))
        return out

    def produce(
        self, records: Sequence[tuple[bytes, bytes | None]], topic: str | None = None
    ) -> None:
        producer = KafkaProducer(
            bootstrap_servers=self.settings.kafka_bootstrap,
            acks="all",
            max_request_size=2_000_000,
            **kafka_python_options(self.settings),
        )
        try:
            for key, value in records:
                producer.send(topic or self.settings.topics.observations, key=key, value=value)
            producer.flush(timeout=60)
        finally:
            producer.close()

    def topic(self, name: str) -> list[dict[str, Any]]:
        security = KafkaSecurity.from_settings(self.settings)
        values = read_topic(self.settings.kafka_bootstrap, name, security=security)
        return [orjson.loads(v) for v in values]

    def wait_all_changes(self, timeout: float) -> float:
        """Seconds until every expected status change is on the topic."""
        expected = expected_changes(self.services, rounds=self.rounds, t0=self.t0)
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if account_status(expected, self.topic(self.settings.topics.status))["lost"] == 0:
                return time.monotonic() - started
            time.sleep(0.5)
        return float("nan")

    def influx_rows(self, url: str) -> set[Change]:
        query = (
            f'from(bucket: "{self.settings.influx_bucket}") |> range(start: 0)'
            ' |> filter(fn: (r) => r._measurement == "service_status" and r._field == "status")'
        )
        try:
            with InfluxDBClient(url=url, token=self.settings.influx_token, org="-") as client:
                tables = client.query_api().query(query)
        except Exception:  # down or database not created yet
            return set()
        return {
            (r.values["service_id"], round(r.get_time().timestamp() * 1000), r.get_value())
            for t in tables
            for r in t.records
        }

    def wait_influx(self, url: str, timeout: float) -> float:
        """Seconds until InfluxDB holds every status change on the topic."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            topic = {status_change(r) for r in self.topic(self.settings.topics.status)}
            if topic and topic <= self.influx_rows(url):
                return time.monotonic() - started
            time.sleep(1.0)
        return float("nan")

    def report(self, influx_url: str) -> dict[str, Any]:
        expected = expected_changes(self.services, rounds=self.rounds, t0=self.t0)
        status = self.topic(self.settings.topics.status)
        topic_rows = {status_change(r) for r in status}
        return {
            "status_changes": account_status(expected, status),
            "incident_events": account_incidents(
                self.services, self.rounds, self.topic(self.settings.topics.incidents)
            ),
            "influx_points": account_points(topic_rows, self.influx_rows(influx_url)),
        }

    def close(self) -> None:
        for worker in self.workers:
            worker.stop(timeout=30)
        delete_run(
            self.settings.kafka_bootstrap,
            self.settings.topics.prefix,
            [],
            security=KafkaSecurity.from_settings(self.settings),
        )
        s = self.settings
        with_errors(lambda: drop_database(s.influx_url, s.influx_bucket, token=s.influx_token))


def with_errors(action: Callable[[], object]) -> None:
    try:
        action()
    except Exception:  # cleanup is best effort
        return


class OwnInfluxDB:
    """An InfluxDB of the run's (or test's) own on free ports: deploy/local/influxdb.sh with its
    own state under ``state``, so stopping it cannot touch anyone else's server. As a context
    manager it is stopped at exit (started only by :meth:`start`).
    """

    def __init__(self, state: Path, *, auth: bool = False) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            "CW_STATE": str(state),
            "CW_INFLUX_PORT": str(self.port),
            "CW_INFLUX_RPC_PORT": str(free_port()),
            # ``[http] auth-enabled``: every request needs a user (the first one made is admin).
            "CW_INFLUX_AUTH_ENABLED": "true" if auth else "false",
        }
        self.url = f"http://127.0.0.1:{self.port}"

    def _script(self, action: str) -> None:
        subprocess.run(
            ["bash", str(DEPLOY / "influxdb.sh"), action],
            env=self.env,
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        self._script("start")

    def stop(self) -> None:
        self._script("stop")

    def __enter__(self) -> OwnInfluxDB:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
