"""``continuity ledger serve``: the Kafka-fed writer thread and the HTTP API in one process.

The writer and the API use separate SQLite connections (WAL: readers never block the writer).
SIGTERM/SIGINT stop both; a ``kill -9`` is recovered from by the stored offsets.
"""

from __future__ import annotations

import asyncio
import fcntl
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import structlog
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client import CollectorRegistry

from pipeline.config.settings import TopicNames
from pipeline.transparency.api import make_app
from pipeline.transparency.keys import key_id, public_key_bytes
from pipeline.transparency.log import TransparencyLog
from pipeline.transparency.metrics import LedgerMetrics
from pipeline.transparency.redaction import RedactionPolicy
from pipeline.transparency.store import SqliteLogStore, SqliteOpeningStore
from pipeline.transparency.writer import HeadPolicy, LedgerWriter

log = structlog.get_logger("ledger.server")
PUBLIC_KEY_META = "log_public_key"


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """Where the log lives, what it reads, where it listens."""

    data_dir: Path
    policy: RedactionPolicy
    host: str = "127.0.0.1"
    port: int = 8470
    kafka_bootstrap: str | None = "127.0.0.1:19092"
    topics: TopicNames = field(default_factory=TopicNames)
    disclosure_token: str = ""
    heads: HeadPolicy = field(default_factory=HeadPolicy)


def open_log(data_dir: Path, policy: RedactionPolicy) -> TransparencyLog:
    """The log in ``data_dir`` (``log.db``, and ``openings.db`` for the redacted fields)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return TransparencyLog(
        SqliteLogStore(str(data_dir / "log.db")),
        SqliteOpeningStore(str(data_dir / "openings.db")),
        policy,
    )


def bind_key(ledger: TransparencyLog, key: Ed25519PrivateKey) -> bytes:
    """Record the log's public key; refuse a different key for an existing log."""
    raw = public_key_bytes(key.public_key())
    stored = ledger.store.get_meta(PUBLIC_KEY_META)
    if stored is not None and stored != raw:
        raise ValueError(
            "this log was started with another signing key; a log keeps one key for life "
            "(start a new log in another --data-dir to change keys)"
        )
    ledger.store.set_meta(PUBLIC_KEY_META, raw)
    return raw


def writer_lock(data_dir: Path) -> IO[bytes]:
    """Hold ``data_dir/writer.lock`` for the life of the process: one writer per log.

    The lock goes with the process (even on ``kill -9``), so a restart never finds it stale.
    """
    handle = (data_dir / "writer.lock").open("ab")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise ValueError(
            f"another writer is running on {data_dir}; a log has exactly one writer"
        ) from None
    return handle


class WriterFailed(RuntimeError):
    """The writer thread stopped with an error (logged); the server exits with it."""


def _writer_thread(
    options: ServeOptions,
    key: Ed25519PrivateKey,
    metrics: LedgerMetrics,
    stop: threading.Event,
    failed: threading.Event,
) -> threading.Thread:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    assert options.kafka_bootstrap is not None
    ledger = open_log(options.data_dir, options.policy)
    topics = options.topics
    sources = {topics.incidents: "incidents", topics.anomalies: "anomalies"}
    sources[topics.indicators] = "indicators"
    consumer = KafkaConsumer(
        bootstrap_servers=options.kafka_bootstrap,
        enable_auto_commit=False,
        group_id=None,
        isolation_level="read_committed",  # the worker's outputs are transactional
    )
    producer = KafkaProducer(bootstrap_servers=options.kafka_bootstrap, acks="all")
    writer = LedgerWriter(
        ledger, key, consumer, producer, sources, topics.deadletter, metrics, heads=options.heads
    )

    def partitions(topic: str) -> list[int]:
        found = consumer.partitions_for_topic(topic)
        if not found:
            raise RuntimeError(f"topic {topic} does not exist (continuity topics create)")
        return sorted(found)

    def run() -> None:
        try:
            writer.assign(partitions, TopicPartition)
            writer.run(stop)
        except Exception:
            log.exception("ledger_writer_failed")
            failed.set()
            stop.set()
        finally:
            consumer.close()
            producer.close()

    thread = threading.Thread(target=run, name="ledger-writer", daemon=True)
    thread.start()
    return thread


async def serve(options: ServeOptions, key: Ed25519PrivateKey) -> None:
    """Run until SIGTERM/SIGINT (or until the writer fails)."""
    registry = CollectorRegistry()
    metrics = LedgerMetrics.register(registry)
    reader = open_log(options.data_dir, options.policy)
    # Held until the process exits, so a second writer on this log cannot start.
    lock = writer_lock(options.data_dir) if options.kafka_bootstrap else None
    public = bind_key(reader, key)
    app = make_app(
        reader, public, key_id(key.public_key()), registry, metrics, options.disclosure_token
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, options.host, options.port)
    await site.start()
    stop = threading.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    thread, failed = None, threading.Event()
    if options.kafka_bootstrap:
        thread = _writer_thread(options, key, metrics, stop, failed)
    else:  # no writer: serve a copied log; sign its size once so there is a head to serve
        latest = reader.store.latest_head()
        if latest is None or latest.tree_size != reader.size:
            reader.sign(key, int(time.time() * 1000))
    host, port = runner.addresses[0][:2]
    log.info("ledger_serving", url=f"http://{host}:{port}", size=reader.size)
    try:
        await asyncio.to_thread(stop.wait)
    finally:
        if thread is not None:
            await asyncio.to_thread(thread.join, 30)
        await runner.cleanup()
        log.info("ledger_stopped", size=reader.size)
        if lock is not None:
            lock.close()
    if failed.is_set():
        raise WriterFailed("the log writer stopped with an error (see the log above)")
