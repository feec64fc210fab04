"""Fault injection against the real stack: each fault, then what was lost, duplicated, and how
long recovery took (``continuity bench chaos``; results in docs/reliability.md).

Every run uses its own topic prefix, consumer groups and InfluxDB database; faults that stop a
server (InfluxDB) use a server of the run's own, started from the same cached binaries and
scripts as the local stack, never the shared one.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
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
from pipeline.bench.chaos_broker import broker_kill_of_three, broker_restart
from pipeline.bench.kafka_io import delete_run, read_topic
from pipeline.bench.workers import BenchWorker, free_port
from pipeline.config.settings import Settings, TopicNames
from pipeline.core.commands import sign_command
from pipeline.core.schema import Kind, Observation, Status
from pipeline.ops.influx_admin import drop_database, ensure_database
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
    """An InfluxDB of the run's own on free ports (deploy/local/influxdb.sh, own state)."""

    def __init__(self, state: Path) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            "CW_STATE": str(state),
            "CW_INFLUX_PORT": str(self.port),
            "CW_INFLUX_RPC_PORT": str(free_port()),
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


def worker_kill(run: ChaosRun) -> dict[str, Any]:
    """kill -9 while the first half is still being produced and processed, then restart."""
    half = run.rounds // 2
    first = run.worker()
    first_half = run.observations(range(half))
    chunks = [first_half[i : i + 50] for i in range(0, len(first_half), 50)]

    def paced() -> None:  # about 2 s of traffic, so the kill lands mid-stream
        for chunk in chunks:
            run.produce(chunk)
            time.sleep(2.0 / len(chunks))

    producer = threading.Thread(target=paced)
    producer.start()
    time.sleep(1.0)
    assert first.proc is not None
    first.proc.kill()
    first.proc.wait()
    killed = time.monotonic()
    run.worker()
    ready = time.monotonic() - killed
    producer.join()
    run.produce(run.observations(range(half, run.rounds)))
    run.wait_all_changes(timeout=180)
    caught_up = time.monotonic() - killed
    influx = run.wait_influx(run.settings.influx_url, timeout=120)
    return {
        **run.report(run.settings.influx_url),
        "restart_to_ready_s": round(ready, 1),
        "kill_to_all_changes_s": round(caught_up, 1),
        "influx_caught_up_after_s": round(influx, 1),
    }


def influx_down(run: ChaosRun, outage_s: float = 60.0) -> dict[str, Any]:
    """InfluxDB down for ``outage_s`` with a worker restart inside the outage."""
    influx = OwnInfluxDB(run.workdir / "influx")
    run.settings = replace(run.settings, influx_url=influx.url)
    influx.start()
    try:
        ensure_database(influx.url, run.settings.influx_bucket)
        worker = run.worker()
        half = run.rounds // 2
        run.produce(run.observations(range(half)))
        influx.stop()
        down_at = time.monotonic()
        worker.stop()
        run.worker()  # starts and processes while InfluxDB is down
        run.produce(run.observations(range(half, run.rounds)))
        processed_during_outage = run.wait_all_changes(timeout=max(5.0, outage_s - 5)) >= 0
        time.sleep(max(0.0, outage_s - (time.monotonic() - down_at)))
        influx.start()
        caught_up = run.wait_influx(influx.url, timeout=180)
        return {
            **run.report(influx.url),
            "outage_s": round(time.monotonic() - down_at - caught_up, 1),
            "processed_while_down": processed_during_outage,
            "influx_caught_up_after_s": round(caught_up, 1),
        }
    finally:
        with_errors(influx.stop)


def poison(run: ChaosRun) -> dict[str, Any]:
    """Poison records between valid ones on the same key: all valid ones still processed."""
    run.worker()
    key = run.services[0].encode()
    valid = run.observations(range(run.rounds))
    bad_ack = {"type": "acknowledge", "service_id": run.services[0], "by": "x", "at": "abc"}
    poison_records: list[tuple[bytes, bytes | None]] = [
        (key, None),
        (key, b'{"schema": 1, "attrs": {"blob": "' + b"x" * 900_000 + b'"}}'),
        (key, b"{not json"),
    ]
    commands = [
        (key, orjson.dumps(sign_command(bad_ack, (run.settings.command_key or "").encode()))),
        (key, orjson.dumps({**bad_ack, "at": time.time()})),  # unsigned
    ]
    half = len(valid) // 2
    run.produce(valid[:half])
    run.produce(poison_records)
    run.produce(commands, topic=run.settings.topics.commands)
    run.produce(valid[half:])
    caught_up = run.wait_all_changes(timeout=120)
    dead = run.topic(run.settings.topics.deadletter)
    return {
        **run.report(run.settings.influx_url),
        "poison_records": len(poison_records) + len(commands),
        "dead_lettered": len(dead),
        "reasons": sorted({d["reason"] for d in dead}),
        "valid_after_poison_processed_in_s": round(caught_up, 1),
    }


SCENARIOS: dict[str, Callable[[ChaosRun], dict[str, Any]]] = {
    "worker-kill": worker_kill,
    "influx-down": influx_down,
    "poison": poison,
    "broker-restart": broker_restart,
    "broker-kill-of-three": broker_kill_of_three,
}


def run_scenario(base: Settings, name: str, *, services: int, rounds: int) -> dict[str, Any]:
    run = ChaosRun.create(base, name, services, rounds)
    try:
        ensure_database(base.influx_url, run.settings.influx_bucket)
        return {"scenario": name, "services": services, "rounds": rounds, **SCENARIOS[name](run)}
    finally:
        run.close()
