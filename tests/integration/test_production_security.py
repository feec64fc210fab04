"""Production security, for real: a Kafka broker of the test's own with SASL/SCRAM, TLS and
ACLs (``KafkaCluster`` with ``BrokerAuth``; the roles in tests/support/secure_kafka.py) and an
InfluxDB of its own with ``auth-enabled = true``.

Connectors may write observations and nothing the workers write; a wrong password or no
credentials at all are refused with a message naming the setting; a worker with its own SCRAM
user over TLS processes observations end to end and writes history with a write-only InfluxDB
user, and keeps processing while InfluxDB refuses its credentials.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result
from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

from connectors.producer import ObservationProducer
from connectors.spool import SpoolRecord
from pipeline.bench.chaos_run import OwnInfluxDB
from pipeline.cli.main import main
from pipeline.config.settings import Settings, TopicNames
from pipeline.core.schema import Kind, Status
from pipeline.ops.influx_admin import InfluxAuthError, influxql
from pipeline.ops.kafka_cluster import KafkaCluster
from pipeline.ops.kafka_security import PLAINTEXT, KafkaAccessError, check_access
from pipeline.ops.topics import ensure_topic_layout
from tests.support.observations import make_obs
from tests.support.secure_kafka import grant, secure_cluster
from tests.support.stack import WorkerProcess, eventually, free_port, read_topic

pytestmark = pytest.mark.integration

SERVICES = [f"sec-{i}" for i in range(4)]
NOW = time.time()
DATABASE = "secure"


@dataclass
class Deployment:
    kafka: KafkaCluster
    influx: OwnInfluxDB
    topics: TopicNames
    app_id: str
    admin_token: str
    state: Path

    def settings_as(self, user: str, *, tls: bool = False) -> Settings:
        env = {**self.kafka.client_env(user, tls=tls), "CW_TOPIC_PREFIX": self.topics.prefix}
        return replace(Settings.from_env(env), app_id=self.app_id, partitions=2)

    def connector(self, topic: str) -> ObservationProducer:
        return ObservationProducer.connect(
            self.kafka.bootstrap,
            topic=topic,
            deadletter_topic=self.topics.deadletter,
            spool_dir=self.state / f"spool-{uuid.uuid4().hex[:6]}",
            security=self.kafka.security("connector"),
        )

    def influx_count(self) -> int:
        payload = influxql(
            self.influx.url,
            f'SELECT count("status") FROM "{DATABASE}"."autogen"."service_status"',
            token=self.admin_token,
        )
        series = orjson.loads(payload)["results"][0].get("series") or []
        return int(series[0]["values"][0][1]) if series else 0


@pytest.fixture(scope="module")
def deployment(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """The secure servers; ``stack`` (the shared one, untouched) guarantees the cached jars
    and binaries they start from."""
    state = tmp_path_factory.mktemp("secure")
    with ExitStack() as servers:
        with ThreadPoolExecutor(2) as pool:  # both mostly wait for their server to come up
            starting_kafka = pool.submit(servers.enter_context, secure_cluster(state / "kafka"))
            db = servers.enter_context(OwnInfluxDB(state / "influx", auth=True))
            starting_db = pool.submit(db.start)
            kafka, _ = starting_kafka.result(), starting_db.result()
        admin_token = f"admin:{uuid.uuid4().hex}"
        user, password = admin_token.split(":")
        # With auth on and no users yet, InfluxDB accepts exactly this: the first admin.
        influxql(db.url, f"CREATE USER {user} WITH PASSWORD '{password}' WITH ALL PRIVILEGES")
        influxql(db.url, f'CREATE DATABASE "{DATABASE}"', token=admin_token)
        topics = TopicNames(f"s{uuid.uuid4().hex[:6]}.")
        app_id = f"{topics.prefix}worker"
        ensure_topic_layout(kafka.bootstrap, topics, partitions=2, security=kafka.security("admin"))
        grant(kafka, topics, app_id)
        yield Deployment(kafka, db, topics, app_id, admin_token, state)


@pytest.fixture(scope="module")
def worker(deployment: Deployment) -> Iterator[WorkerProcess]:
    """A worker running as Kafka user ``worker`` over SASL_SSL and InfluxDB user ``writer``."""
    password = uuid.uuid4().hex
    token = deployment.admin_token
    influxql(deployment.influx.url, f"CREATE USER writer WITH PASSWORD '{password}'", token=token)
    influxql(deployment.influx.url, f'GRANT WRITE ON "{DATABASE}" TO writer', token=token)
    token_file = deployment.state / "influx.token"
    token_file.write_text(f"writer:{password}\n")
    settings = replace(
        deployment.settings_as("worker", tls=True),
        influx_url=deployment.influx.url,
        influx_bucket=f"{DATABASE}/autogen",
        influx_token_file=str(token_file),
        metrics_port=free_port(),
        data_dir=str(deployment.state / "worker"),
        command_key=uuid.uuid4().hex,
    )
    process = WorkerProcess(settings, deployment.state / "worker.log", deployment.app_id)
    process.start(timeout=120)
    yield process
    process.stop()


def records(topic: str, status: Status) -> list[tuple[SpoolRecord, str]]:
    """One status report per service (each promising a report an hour: no silence)."""
    at = NOW - (100 if status is Status.UP else 50)
    return [
        (
            (
                topic,
                service,
                make_obs(
                    service,
                    at=at,
                    kind=Kind.STATUS_REPORT,
                    status=status,
                    event_id=f"{service}-{status}-{uuid.uuid4().hex[:6]}",
                    attrs={"expected_interval_s": 3600},
                ).to_json(),
            ),
            "test",
        )
        for service in SERVICES
    ]


def send_as_connector(deployment: Deployment, status: Status) -> None:
    producer = deployment.connector(deployment.topics.observations)
    try:
        sent = producer.send_records(records(producer.topic, status), spool_failures=False)
        assert sent, producer.refused
    finally:
        producer.close()


def test_a_connector_may_write_observations(deployment: Deployment) -> None:
    send_as_connector(deployment, Status.UP)
    admin = deployment.settings_as("admin")
    written = read_topic(admin, deployment.topics.observations, at_least=len(SERVICES))
    assert {record["service_id"] for record in written} >= set(SERVICES)


@pytest.mark.parametrize("output", ["status", "incidents", "commands"])
def test_a_connector_may_not_write_what_workers_write(deployment: Deployment, output: str) -> None:
    topic = getattr(deployment.topics, output)
    producer = deployment.connector(topic)
    try:
        assert not producer.send_records(records(topic, Status.UP)[:1], spool_failures=False)
    finally:
        producer.close()
    assert producer.refused is not None
    assert "user 'connector'" in producer.refused
    assert f"topic {topic!r}" in producer.refused
    assert "CW_KAFKA_USERNAME" in producer.refused


def topics_create(deployment: Deployment, user: str, **extra: str) -> Result:
    """``continuity topics create`` as ``user``, in this process (the CLI reads the env)."""
    env = {**deployment.kafka.client_env(user, tls=True), "CW_PARTITIONS": "1", **extra}
    return CliRunner().invoke(main, ["topics", "create"], env=env)


def test_the_admin_creates_the_topics_with_the_cli(deployment: Deployment) -> None:
    prefix = f"a{uuid.uuid4().hex[:6]}."
    done = topics_create(deployment, "admin", CW_TOPIC_PREFIX=prefix)
    assert done.exit_code == 0, done.output
    assert f"{prefix}observations" in done.output


def test_a_worker_may_not_forge_observations(deployment: Deployment) -> None:
    producer = ObservationProducer.connect(
        deployment.kafka.bootstrap,
        topic=deployment.topics.observations,
        deadletter_topic=deployment.topics.deadletter,
        spool_dir=deployment.state / "spool-worker",
        security=deployment.kafka.security("worker"),
    )
    try:
        forged = records(deployment.topics.observations, Status.DOWN)[:1]
        assert not producer.send_records(forged, spool_failures=False)
    finally:
        producer.close()
    assert producer.refused is not None
    assert "user 'worker'" in producer.refused


def test_a_wrong_password_is_refused_naming_the_setting(deployment: Deployment) -> None:
    wrong_file = deployment.state / "connector-wrong.password"
    wrong_file.write_text("not-the-password\n")
    wrong = replace(deployment.kafka.security("connector"), password_file=str(wrong_file))
    with pytest.raises(KafkaAccessError, match=r"wrong credentials.*CW_KAFKA_PASSWORD_FILE"):
        check_access(deployment.kafka.bootstrap, wrong)
    # Commands stop at once with the same message instead of retrying for ever.
    done = topics_create(deployment, "admin", CW_KAFKA_PASSWORD_FILE=str(wrong.password_file))
    assert done.exit_code == 1
    assert "wrong credentials" in done.output
    assert "CW_KAFKA_PASSWORD_FILE" in done.output


def test_a_client_without_credentials_is_refused(deployment: Deployment) -> None:
    with pytest.raises(KafkaAccessError, match=r"needs authentication.*CW_KAFKA_SECURITY_PROTOCOL"):
        check_access(deployment.kafka.bootstrap, PLAINTEXT)


def test_the_tls_listener_verifies_the_broker(deployment: Deployment) -> None:
    admin = deployment.kafka.security("admin", tls=True)
    assert check_access(deployment.kafka.tls_bootstrap, admin)
    untrusted = replace(admin, ca_file=None)  # the system CAs do not know the test's CA
    with pytest.raises(KafkaAccessError, match="CW_KAFKA_CA_FILE"):
        check_access(deployment.kafka.tls_bootstrap, untrusted)


def test_influxdb_refuses_writes_without_credentials(deployment: Deployment) -> None:
    with pytest.raises(InfluxAuthError, match="CW_INFLUX_TOKEN_FILE"):
        influxql(deployment.influx.url, f'CREATE DATABASE "{DATABASE}"')
    client = InfluxDBClient(url=deployment.influx.url, token="nobody:nothing", org="-")
    with client, pytest.raises(ApiException) as refused:
        client.write_api(write_options=SYNCHRONOUS).write(
            bucket=f"{DATABASE}/autogen", record="service_status,service_id=x status=1i"
        )
    assert refused.value.status == 401


def test_a_worker_with_its_own_users_processes_end_to_end(
    deployment: Deployment, worker: WorkerProcess
) -> None:
    send_as_connector(deployment, Status.UP)
    admin = deployment.settings_as("admin")
    statuses = read_topic(admin, deployment.topics.status, at_least=len(SERVICES), timeout=90)
    assert {record["service_id"] for record in statuses} >= set(SERVICES)
    eventually(
        lambda: deployment.influx_count() >= len(SERVICES),
        timeout=60,
        what="status points written by the worker's InfluxDB user",
    )


def test_the_worker_keeps_running_while_influxdb_refuses_it(
    deployment: Deployment, worker: WorkerProcess
) -> None:
    send_as_connector(deployment, Status.UP)
    admin = deployment.settings_as("admin")
    read_topic(admin, deployment.topics.status, at_least=len(SERVICES), timeout=90)
    before = eventually(deployment.influx_count, timeout=60, what="first status points")
    token = deployment.admin_token
    influxql(deployment.influx.url, "SET PASSWORD FOR writer = 'rotated-away'", token=token)
    send_as_connector(deployment, Status.DOWN)
    statuses = read_topic(admin, deployment.topics.status, at_least=2 * len(SERVICES), timeout=90)
    assert sum(record["status"] == "down" for record in statuses) >= len(SERVICES)
    eventually(
        lambda: re.search(
            rb"history_write_failed.*refused the credentials \(HTTP 401\).*CW_INFLUX_TOKEN_FILE|"
            rb"refused the credentials \(HTTP 401\).*CW_INFLUX_TOKEN_FILE.*history_write_failed",
            worker.log_path.read_bytes(),
        ),
        timeout=30,
        what="the worker to say which setting InfluxDB refused",
    )
    assert worker.proc is not None
    assert worker.proc.poll() is None
    log = worker.log_path.read_text()
    assert deployment.kafka.auth is not None
    assert deployment.kafka.auth.users["worker"] not in log  # secrets are never logged
    # The password is put back: the history catches up from the committed offsets.
    password = (deployment.state / "influx.token").read_text().strip().split(":", 1)[1]
    influxql(deployment.influx.url, f"SET PASSWORD FOR writer = '{password}'", token=token)
    eventually(
        lambda: deployment.influx_count() >= before + len(SERVICES),
        timeout=60,
        what="the refused points to be written once InfluxDB accepts the worker again",
    )
    assert password not in worker.log_path.read_text()
