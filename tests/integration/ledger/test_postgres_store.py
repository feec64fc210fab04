"""The log on a real PostgreSQL server: what only a database server can get wrong.

The store contract itself (idempotence, atomic batches, proofs after a reopen, openings kept
apart, one writer) runs over both backends in tests/unit/transparency (``ledger_backend``).
Here: rows refuse to change, a server restart between appends, the schema's version, a bad
password, and ``ledger serve`` fed from Kafka into PostgreSQL, a second writer refused, then
``ledger export`` -> ``ledger verify``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pg8000.native
import pytest
from click.testing import CliRunner, Result
from kafka import KafkaProducer

from pipeline.cli.ledger import ledger_group
from pipeline.config.settings import Settings
from pipeline.transparency import merkle
from pipeline.transparency.keys import generate_private_key
from pipeline.transparency.log import TransparencyLog
from pipeline.transparency.records import LogRecord
from pipeline.transparency.redaction import RedactionPolicy
from pipeline.transparency.storage import StorageError, open_storage
from tests.support.ledger import LedgerServer
from tests.support.postgres import LedgerBackend, PostgresServer, postgres_server
from tests.support.stack import eventually, free_port

pytestmark = pytest.mark.integration

POLICY = RedactionPolicy.from_mapping(
    {"version": 1, "kinds": {"incident_transition": {"sensitive": ["note"]}}}
)


__all__ = ["postgres_server"]  # the session's PostgreSQL server, shared with other modules


@pytest.fixture
def pg(postgres_server: PostgresServer) -> PostgresServer:
    return postgres_server


@pytest.fixture
def backend(pg: PostgresServer, tmp_path: Path) -> Iterator[LedgerBackend]:
    made = LedgerBackend("postgresql", tmp_path, pg)
    yield made
    made.close_all()


def _records(start: int, end: int) -> list[LogRecord]:
    return [
        LogRecord(f"incident/{i}", "incident_transition", {"n": i, "note": f"secret {i}"})
        for i in range(start, end)
    ]


def _recomputed_root(log: TransparencyLog) -> bytes:
    entries = log.store.entries(0, log.size)
    return merkle.root_from_leaves([merkle.leaf_hash(e.leaf) for e in entries])


def test_stored_entries_nodes_and_heads_refuse_to_change(
    backend: LedgerBackend, pg: PostgresServer
) -> None:
    log = backend.open(POLICY, writer=True)
    log.append(_records(0, 4), {})
    log.sign(generate_private_key(), 1_000)
    conn = pg.connect()
    s = backend.schema
    try:
        for sql in (
            f"UPDATE {s}.entries SET leaf = 'x' WHERE idx = 1",
            f"DELETE FROM {s}.entries WHERE idx = 3",
            f"UPDATE {s}.nodes SET hash = 'x'",
            f"DELETE FROM {s}.heads",
            f"TRUNCATE {s}.entries",
            f"TRUNCATE {s}.nodes",
        ):
            with pytest.raises(pg8000.native.DatabaseError, match="append-only") as refused:
                conn.run(sql)
            assert refused.value.args[0]["C"] == "42501", sql  # insufficient_privilege
    finally:
        conn.close()
    assert log.store.size() == 4
    assert log.root() == _recomputed_root(log)
    assert len(log.store.heads(0, 4)) == 1


def test_a_server_restart_between_appends_loses_nothing(
    backend: LedgerBackend, pg: PostgresServer
) -> None:
    writer = backend.open(POLICY, writer=True)
    writer.append(_records(0, 10), {("cw.incidents", 0): 10})
    old_root = writer.root()
    pg.restart(immediate=True)  # like a crash: no checkpoint, WAL replay on start
    # The same log object carries on: its connection is reopened and the writer's lock retaken.
    assert writer.append(_records(5, 25), {("cw.incidents", 0): 25}) == 15
    with pytest.raises(ValueError, match="another writer is running on postgresql://"):
        backend.open(POLICY, writer=True)
    fresh = backend.open(POLICY)
    assert fresh.size == 25
    assert [e.key for e in fresh.store.entries(0, 25)] == [f"incident/{i}" for i in range(25)]
    assert fresh.store.offsets() == {("cw.incidents", 0): 25}
    assert fresh.root() == _recomputed_root(fresh) == writer.root()
    proof = fresh.consistency_proof(10, 25)
    assert merkle.verify_consistency(10, 25, old_root, fresh.root(), proof)
    assert fresh.openings is not None
    assert [o.value for o in fresh.openings.get("incident/3")] == ["secret 3"]


def test_schema_version_and_connection_errors_are_named(
    backend: LedgerBackend, pg: PostgresServer, tmp_path: Path
) -> None:
    storage = backend.storage()
    assert not storage.exists()
    backend.open(POLICY).close()
    assert storage.exists()
    conn = pg.connect()
    try:
        conn.run(f"INSERT INTO {backend.schema}.schema_version VALUES (99)")
    finally:
        conn.close()
    with pytest.raises(ValueError, match="version 99, newer than this release"):
        backend.open(POLICY)

    wrong = tmp_path / "wrong-password"
    wrong.write_text("not-the-password-4711\n")
    env = {"CW_LEDGER_STORE_PASSWORD_FILE": str(wrong)}
    with pytest.raises(ConnectionError, match="cannot connect to postgresql://") as failed:
        open_storage(backend.spec, None, env).open_log(POLICY)
    assert "4711" not in str(failed.value)
    missing = {"CW_LEDGER_STORE_PASSWORD_FILE": str(tmp_path / "absent")}
    with pytest.raises(StorageError, match="CW_LEDGER_STORE_PASSWORD_FILE: cannot read"):
        open_storage(backend.spec, None, missing)


def _produce(settings: Settings, count: int) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    for i in range(count):
        record = {
            "event": "detected",
            "at": 3000.0 + i,
            "incident": {
                "incident_id": f"substation-{i}/1",
                "service": {"service_id": f"substation-{i}", "customers_served": 900},
                "customers_affected": 12,
                "attrs": {"endpoint": f"https://scada-{i}.example/status"},
            },
        }
        producer.send(settings.topics.incidents, key=f"s{i}".encode(), value=orjson.dumps(record))
    producer.flush()
    producer.close()


def _cli(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(ledger_group, list(args), env=env, catch_exceptions=False)


def test_serve_into_postgresql_refuses_a_second_writer_and_exports_a_verifying_bundle(
    settings: Settings,
    ledger_server: Callable[..., LedgerServer],
    backend: LedgerBackend,
    log_key_file: Path,
    public_key_file: Path,
    tmp_path: Path,
) -> None:
    _produce(settings, 25)
    server = ledger_server(store=backend.spec, env=backend.env)
    eventually(
        lambda: (server.head() or {}).get("head", {}).get("tree_size") == 25,
        timeout=60,
        what="a signed head of 25 entries from the PostgreSQL-backed log",
    )
    # A second writer on the same log (the real command, in this process) refuses to start.
    kafka_env = {
        "CW_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "CW_TOPIC_PREFIX": settings.topics.prefix,
    }
    port = str(free_port())
    second = _cli(
        {**backend.env, **kafka_env},
        "serve", "--store", backend.spec, "--key-file", str(log_key_file), "--port", port,
    )  # fmt: skip
    assert second.exit_code == 1, second.output
    assert "another writer is running on postgresql://" in second.output
    assert "test-only-password" not in second.output + server.log_path.read_text()
    server.stop()

    bundle = tmp_path / "bundle.json"
    exported = _cli(backend.env, "export", "--store", backend.spec, "--out", str(bundle))
    assert exported.exit_code == 0, exported.output
    verified = _cli({}, "verify", str(bundle), "--log-key", str(public_key_file))
    assert verified.exit_code == 0, verified.output
    assert "OK: 25 entries" in verified.stdout
    assert "scada-" not in bundle.read_text()  # endpoints are committed, not published

    absent = backend.spec.replace(backend.schema, "t_never_written")
    missing = _cli(backend.env, "export", "--store", absent, "--out", str(tmp_path / "x.json"))
    assert missing.exit_code == 1
    assert "no log in postgresql://" in missing.output


def test_bench_runs_on_postgresql_and_refuses_a_log_that_is_not_empty(
    backend: LedgerBackend, tmp_path: Path
) -> None:
    out = tmp_path / "result.json"
    args = ("bench", "--entries", "2000", "--store", backend.spec, "--samples", "10")
    done = _cli(backend.env, *args, "--bundle-entries", "200", "--out", str(out))
    assert done.exit_code == 0, done.output
    result = orjson.loads(out.read_bytes())
    assert result["store"] == backend.spec
    assert 0 < result["proofs"]["inclusion_node_reads_max"] <= 2 * 11  # O(log n) nodes
    assert result["bundle"]["entries"] == 200
    assert result["storage"]["log_bytes_per_entry"] > result["storage"]["leaf_bytes_mean"]
    assert result["storage"]["openings_bytes_per_entry"] > 0
    again = _cli(backend.env, *args)
    assert again.exit_code == 1
    assert "already holds 2,000 entries" in again.output
