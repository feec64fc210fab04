"""A restart of the broker itself, on a Kafka (and an InfluxDB) of this module's own (the
shared ones are never restarted): a worker and the transparency-log writer run against it;
mid-stream InfluxDB stops and the log writer is killed (``kill -9``) and restarted, then the
broker is killed; InfluxDB comes back while Kafka is down (the history writer's commit meets a
dead coordinator), then the broker restarts over its data. Afterwards no status change,
incident event or InfluxDB point is lost, and the log holds every transition on the incidents
topic exactly once (issues 17 and 16)."""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from pipeline.bench.chaos_broker import restart_mid_stream
from pipeline.bench.chaos_run import ChaosRun, OwnInfluxDB
from pipeline.bench.kafka_io import read_topic
from pipeline.config.settings import Settings
from pipeline.ops.influx_admin import ensure_database
from pipeline.ops.kafka_cluster import KafkaCluster
from pipeline.transparency.keys import generate_private_key, write_private_key
from pipeline.transparency.records import RecordRejected, to_log_record
from tests.support.kafka_sockets import closing_kafka_sockets
from tests.support.ledger import LedgerServer
from tests.support.stack import eventually

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def own_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    with closing_kafka_sockets(), KafkaCluster(tmp_path_factory.mktemp("kafka"), 1) as cluster:
        yield cluster


def _incident_keys(settings: Settings) -> list[str]:
    keys = []
    for raw in read_topic(settings.kafka_bootstrap, settings.topics.incidents):
        try:
            record = to_log_record("incidents", raw)
        except RecordRejected:
            continue
        if record is not None:
            keys.append(record.key)
    return keys


def _log_keys(data_dir: Path) -> list[str]:
    with sqlite3.connect(data_dir / "log.db") as db:
        return [row[0] for row in db.execute("SELECT entry_key FROM entries ORDER BY idx")]


def _incidents_logged(data_dir: Path) -> int:
    return sum(1 for k in _log_keys(data_dir) if k.startswith("incident/"))


def test_broker_restart_and_log_writer_kill_9_mid_stream_lose_and_duplicate_nothing(
    stack: Settings, own_kafka: KafkaCluster, tmp_path: Path
) -> None:
    run = ChaosRun.create(
        replace(stack, kafka_bootstrap=own_kafka.bootstrap), "broker", services=20, rounds=4
    )
    key_file = tmp_path / "log-key.pem"
    write_private_key(key_file, generate_private_key())
    ledgers: list[LedgerServer] = []

    def ledger() -> LedgerServer:
        server = LedgerServer(
            run.settings, tmp_path / "log", key_file, tmp_path / f"ledger-{len(ledgers)}.log"
        )
        ledgers.append(server)
        return server.start()

    at_kill: list[int] = []

    influx = OwnInfluxDB(tmp_path / "influx")

    def kill_9_the_log_writer() -> None:
        # InfluxDB goes down first, so the history writer holds a polled batch, uncommitted,
        # when the broker dies: its commit then meets a dead coordinator.
        influx.stop()
        eventually(
            lambda: _incidents_logged(tmp_path / "log"), timeout=30, what="a first log entry"
        )
        ledgers[0].kill9()
        at_kill.append(_incidents_logged(tmp_path / "log"))
        ledger()  # the new writer then rides out the broker restart

    def influx_back_while_kafka_is_down() -> None:
        influx.start()
        time.sleep(6.0)  # the history writer's longest back-off (5 s): its write goes through

    try:
        influx.start()
        run.settings = replace(run.settings, influx_url=influx.url)
        ensure_database(influx.url, run.settings.influx_bucket)
        ledger()
        report = restart_mid_stream(
            run,
            own_kafka,
            down_s=3.0,
            stream_s=6.0,
            before_kill=kill_9_the_log_writer,
            while_down=influx_back_while_kafka_is_down,
        )
        assert report["worker_survived"], report
        assert report["observations_refused"] == 0, report
        # Lost: none. Duplicates on the output topics are possible while the worker's output is
        # at least once (see docs/reliability.md); the log below must hold each exactly once.
        assert report["status_changes"]["lost"] == 0, report
        assert report["incident_events"]["lost"] == 0, report
        assert report["influx_points"]["lost"] == 0, report

        expected = set(_incident_keys(run.settings))
        assert len(expected) == report["incident_events"]["events"]

        def logged() -> list[str] | None:
            keys = [k for k in _log_keys(tmp_path / "log") if k.startswith("incident/")]
            return keys if set(keys) >= expected else None

        keys = eventually(logged, timeout=60, what="every transition in the log")
        assert [k for k, n in Counter(keys).items() if n > 1] == []
        assert set(keys) == expected
        assert 0 < at_kill[0] < len(expected), "the log writer was not killed mid-stream"
        survivor = ledgers[-1].proc
        assert survivor is not None
        assert survivor.poll() is None, "the log writer did not ride out the broker restart"
    finally:
        for server in ledgers:
            server.stop()
        run.close()
        influx.stop()
