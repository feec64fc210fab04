"""``continuity ledger serve``: the Kafka-fed writer thread and the HTTP API in one process.

The writer and the API use separate connections to the store (SQLite in WAL mode or
PostgreSQL: readers never block the writer); the writer's holds the log's one-writer lock.
SIGTERM/SIGINT stop both; a ``kill -9`` is recovered from by the stored offsets.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any

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
from pipeline.transparency.storage import LedgerStorage
from pipeline.transparency.writer import HeadPolicy, LedgerWriter

log = structlog.get_logger("ledger.server")
PUBLIC_KEY_META = "log_public_key"


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """Where the log lives, what it reads, where it listens."""

    storage: LedgerStorage
    policy: RedactionPolicy
    host: str = "127.0.0.1"
    port: int = 8470
    kafka_bootstrap: str | None = "127.0.0.1:19092"
    topics: TopicNames = field(default_factory=TopicNames)
    disclosure_token: str = ""
    heads: HeadPolicy = field(default_factory=HeadPolicy)
    #: Kafka client security options (pipeline.ops.kafka_security).
    kafka_options: dict[str, Any] = field(default_factory=dict, repr=False)


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


class WriterFailed(RuntimeError):
    """The writer thread stopped with an error (logged); the server exits with it."""


def _writer_thread(
    options: ServeOptions,
    ledger: TransparencyLog,
    key: Ed25519PrivateKey,
    metrics: LedgerMetrics,
    stop: threading.Event,
    failed: threading.Event,
) -> threading.Thread:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.errors import KafkaError

    assert options.kafka_bootstrap is not None
    topics = options.topics
    sources = {topics.incidents: "incidents", topics.anomalies: "anomalies"}
    sources[topics.indicators] = "indicators"
    consumer = KafkaConsumer(
        bootstrap_servers=options.kafka_bootstrap,
        enable_auto_commit=False,
        group_id=None,
        isolation_level="read_committed",  # the worker's outputs are transactional
        **options.kafka_options,
    )
    producer = KafkaProducer(
        bootstrap_servers=options.kafka_bootstrap, acks="all", **options.kafka_options
    )
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
            while not stop.is_set():
                try:
                    writer.assign(partitions, TopicPartition)
                    writer.run(stop)
                except KafkaError as exc:
                    # Kafka unreachable (a broker restart, say). The offsets stored with the
                    # entries are the truth, so assigning again from them after a pause
                    # neither skips nor repeats an entry.
                    log.warning("ledger_kafka_unavailable", error=str(exc))
                    stop.wait(1.0)
        except Exception:
            log.exception("ledger_writer_failed")
            failed.set()
            stop.set()
        finally:
            consumer.close()
            producer.close()
            ledger.close()

    thread = threading.Thread(target=run, name="ledger-writer", daemon=True)
    thread.start()
    return thread


async def serve(options: ServeOptions, key: Ed25519PrivateKey) -> None:
    """Run until SIGTERM/SIGINT (or until the writer fails)."""
    registry = CollectorRegistry()
    metrics = LedgerMetrics.register(registry)
    # The writer's store holds the log's one-writer lock until it is closed (or the process
    # ends), so a second writer on this log refuses to start here, before serving anything.
    writer = (
        options.storage.open_log(options.policy, writer=True) if options.kafka_bootstrap else None
    )
    reader = options.storage.open_log(options.policy)
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
    if writer is not None:
        thread = _writer_thread(options, writer, key, metrics, stop, failed)
    else:  # no writer: serve a copied log; sign its size once so there is a head to serve
        latest = reader.store.latest_head()
        if latest is None or latest.tree_size != reader.size:
            reader.sign(key, int(time.time() * 1000))
    host, port = runner.addresses[0][:2]
    log.info(
        "ledger_serving",
        url=f"http://{host}:{port}",
        store=options.storage.describe(),
        size=reader.size,
    )
    try:
        await asyncio.to_thread(stop.wait)
    finally:
        if thread is not None:
            await asyncio.to_thread(thread.join, 30)
        await runner.cleanup()
        log.info("ledger_stopped", size=reader.size)
        reader.close()
    if failed.is_set():
        raise WriterFailed("the log writer stopped with an error (see the log above)")
