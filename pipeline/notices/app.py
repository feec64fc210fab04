"""The notifier: a faust app of its own (own consumer group) over incidents and anomalies.

``route`` re-keys each record by subscriber onto ``<prefix>notifier-signals`` so that one
subscriber's signals are handled by one notifier in order; ``decide`` runs the subscriber's
policy over its state in the ``notifier-state`` table (changelog-backed, keyed by subscriber
like the re-keyed topic), records each notice, flushes, then hands it to the dispatcher. A
timer releases groups when they are due and redelivers what a crashed notifier owed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import faust
import orjson
import structlog
from aiokafka.partitioner import murmur2
from influxdb_client.client.influxdb_client import InfluxDBClient
from prometheus_client import CollectorRegistry

from pipeline.config.settings import Settings
from pipeline.core.deadletter import dead_letter_record
from pipeline.metrics.worker import WorkerMetrics
from pipeline.notices.channels.cap.feed import FeedStore
from pipeline.notices.channels.factory import build_sender
from pipeline.notices.dispatch import Attempt, Dispatcher, Lane
from pipeline.notices.engine import NoticeEngine, Stored
from pipeline.notices.metrics import NoticeMetrics
from pipeline.notices.ownership import Ownership
from pipeline.notices.records import attempt_point, attempt_record, notice_point, notice_record
from pipeline.notices.signals import Signal, SignalRejected
from pipeline.notices.subscriptions import Subscriptions
from pipeline.sinks.influx import InfluxSink
from pipeline.worker.faust_app import pipeline_app

log = structlog.get_logger(__name__)

#: How often due groups and owed deliveries are looked at (bounds the added latency).
TICK_S = 0.1
#: A notifier that dies is replaced after this long (Kafka's default of 60 s would hold
#: every notice of its partitions for a minute; 10 s tolerates ordinary pauses).
SESSION_TIMEOUT_S = 10.0
#: How long a finished delivery waits for a rebalance to settle before leaving its outbox
#: entry to whoever owns the subscriber then.
SETTLE_WAIT_S = 60.0


def subscriber_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2) picks for ``key``.

    >>> subscriber_partition(b"cert", 6) == subscriber_partition(b"cert", 6)
    True
    """
    return (murmur2(key) & 0x7FFFFFFF) % partitions


class SubscriberTable(faust.Table[bytes, bytes]):
    """A table whose changelog partition is computed, not looked up.

    faust's own partitioner needs the changelog topic's metadata, which a fresh consumer may
    not have yet; the first writes after a start then fail. The murmur2 partition is what
    that lookup would have returned.
    """

    def partition_for_key(self, key: Any) -> int | None:
        return subscriber_partition(bytes(key), self.partitions or 1)


def routed_topic_name(settings: Settings) -> str:
    return f"{settings.topics.prefix}notifier-signals"


def feed_directory(settings: Settings) -> Path:
    return Path(settings.data_dir) / "notifier-feeds"


def create_notifier_app(
    settings: Settings,
    subscriptions: Subscriptions,
    registry: CollectorRegistry,
    *,
    feeds: FeedStore,
    clock: Callable[[], float] = time.time,
    influx: InfluxDBClient | None = None,
) -> faust.App:
    """Build the notifier app; nothing connects until a faust worker starts it."""
    app = pipeline_app(settings, session_timeout=SESSION_TIMEOUT_S, broker_heartbeat_interval=1.0)
    topics = settings.topics
    raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
    incidents = app.topic(topics.incidents, **raw)
    anomalies = app.topic(topics.anomalies, **raw)
    routed = app.topic(
        routed_topic_name(settings), partitions=settings.partitions, internal=True, **raw
    )
    notices_topic = app.topic(topics.notices, **raw)
    deadletter = app.topic(topics.deadletter, **raw)
    # Keyed by subscriber id bytes; each entry goes to the partition Kafka's default
    # partitioner gives the same key on the routed topic (so the notifier owning a
    # subscriber's signals also owns its state), also when written from the timer.
    table = SubscriberTable(
        app,
        name="notifier-state",
        default=None,
        key_type=bytes,
        value_type=bytes,
        partitions=settings.partitions,
        use_partitioner=True,
    )
    app.tables.add(table)

    metrics = NoticeMetrics(registry)
    sink = (
        InfluxSink(
            influx,
            bucket=settings.influx_bucket,
            org=settings.influx_org,
            metrics=WorkerMetrics(registry),
        )
        if influx is not None
        else None
    )
    engine = NoticeEngine(subscriptions, clock=clock)
    wakeups: dict[str, float] = {s: 0.0 for s in engine.policies}
    ownership = Ownership(
        engine.policies, lambda s: subscriber_partition(s.encode(), settings.partitions)
    )

    async def produce(topic: str, key: bytes, value: bytes) -> None:
        await (await app.topic(topic, **raw).send(key=key, value=value))

    async def record(attempt: Attempt) -> None:
        metrics.deliveries.labels(attempt.channel_type, attempt.result).inc()
        metrics.delivery_duration.labels(attempt.channel_type).observe(attempt.duration_s)
        if attempt.latency_s is not None:
            metrics.latency.labels(attempt.channel_type).observe(attempt.latency_s)
        await notices_topic.send(key=attempt.subscriber_id.encode(), value=attempt_record(attempt))
        if attempt.result in ("dead_letter", "queue_full"):
            await deadletter.send(
                value=dead_letter_record(
                    attempt_record(attempt),
                    reason="notice_undeliverable",
                    field=attempt.channel,
                    detail=attempt.detail,
                    topic=topics.notices,
                    partition=None,
                    offset=None,
                    at=attempt.at,
                )
            )
        if sink is not None:
            sink.add(attempt_point(attempt))

    async def finished(subscriber_id: str, channel: str, notice_id: str) -> None:
        # During a rebalance wait (the notice stays in flight, so a fresh look at the
        # recovered outbox does not send it again) until we know who owns the subscriber.
        deadline = clock() + SETTLE_WAIT_S
        refresh_ownership()
        while not ownership.settled and clock() < deadline:
            await asyncio.sleep(TICK_S)
            refresh_ownership()
        if not ownership.owns(subscriber_id):
            # The subscriber moved away: its new owner holds the newer state and redelivers
            # what the outbox still owes (same notice id, dropped by the peer).
            log.info("notice_finish_left_to_owner", subscriber=subscriber_id, channel=channel)
            return
        key = subscriber_id.encode()
        stored = Stored.decode(table.get(key))
        if engine.finish(stored, channel, notice_id):
            table[key] = stored.encode()
            await app.producer.flush()

    lanes = [
        Lane(
            sub.subscriber_id,
            channel.type,
            channel.delivery,
            build_sender(channel, feeds=feeds, produce=produce),
        )
        for sub in subscriptions.subscribers
        for channel in sub.channels
    ]
    dispatcher = Dispatcher(
        lanes,
        record,
        finished,
        clock=clock,
        on_depth=lambda sub, depth: metrics.queued.labels(sub).set(depth),
    )

    async def decide(subscriber_id: str, signal: Signal | None) -> None:
        key = subscriber_id.encode()
        before = table.get(key)
        stored = Stored.decode(before)
        decision = engine.decide(subscriber_id, stored, signal)
        wakeups[subscriber_id] = decision.wakeup if decision.wakeup is not None else float("inf")
        after = stored.encode()
        if after != before:
            table[key] = after
        channels = [c.delivery.name for c in engine.policies[subscriber_id].subscriber.channels]
        for notice in decision.notices:
            metrics.notices.labels(notice.kind).inc()
            await notices_topic.send(key=key, value=notice_record(notice, channels))
            if sink is not None:
                sink.add(notice_point(notice))
            log.info(
                "notice_decided",
                notice_id=notice.notice_id,
                subscriber=subscriber_id,
                kind=notice.kind,
                items=len(notice.items),
            )
        if decision.notices:
            # The outbox must be in the changelog before anything leaves: a crash after
            # this point redelivers (same notice id), it never forgets or re-decides.
            await app.producer.flush()
        # Read the outbox again: while we awaited, a delivery may have finished and left it
        # (the copy decoded above would send that notice a second time).
        for channel, notice in Stored.decode(table.get(key)).owed():
            if not dispatcher.inflight(subscriber_id, channel, notice.notice_id):
                dispatcher.submit(notice, channel)

    @app.agent(incidents)
    async def route_incidents(stream: faust.StreamT[Any]) -> AsyncIterator[None]:
        async for event in stream.events():
            await _route(event, anomalies_topic=False)
            yield None

    @app.agent(anomalies)
    async def route_anomalies(stream: faust.StreamT[Any]) -> AsyncIterator[None]:
        async for event in stream.events():
            await _route(event, anomalies_topic=True)
            yield None

    async def _route(event: faust.EventT[Any], *, anomalies_topic: bool) -> None:
        try:
            signal = engine.parse(event.value, anomalies=anomalies_topic)
        except SignalRejected as exc:
            metrics.signals.labels("unreadable", "rejected").inc()
            message = event.message
            await deadletter.send(
                value=dead_letter_record(
                    event.value,
                    reason="notice_signal_unreadable",
                    field=None,
                    detail=str(exc),
                    topic=message.topic,
                    partition=message.partition,
                    offset=message.offset,
                    at=clock(),
                )
            )
            return
        targets = engine.route(signal)
        metrics.signals.labels(signal.kind, "routed" if targets else "no_subscriber").inc()
        body = orjson.dumps(signal.to_dict())
        for subscriber_id in targets:
            await routed.send(key=subscriber_id.encode(), value=body)

    @app.agent(routed)
    async def decide_signals(stream: faust.StreamT[Any]) -> AsyncIterator[None]:
        async for event in stream.events():
            subscriber_id = bytes(event.key).decode()
            if subscriber_id not in engine.policies:
                log.warning("notice_subscriber_unknown", subscriber=subscriber_id)
                continue  # removed from the subscriptions file since the record was routed
            try:
                signal = Signal.from_dict(orjson.loads(event.value))
                await decide(subscriber_id, signal)
            except Exception as exc:  # one bad record must not stop this subscriber's stream
                log.exception("notice_decision_failed", subscriber=subscriber_id)
                metrics.signals.labels("unreadable", "failed").inc()
                await deadletter.send(
                    value=dead_letter_record(
                        event.value,
                        reason="notice_processing_error",
                        field=subscriber_id,
                        detail=repr(exc)[:500],
                        topic=event.message.topic,
                        partition=event.message.partition,
                        offset=event.message.offset,
                        at=clock(),
                    )
                )
            yield None

    def refresh_ownership() -> None:
        """Tell ``ownership`` what faust shows now. ``app.rebalancing`` is set as soon as a
        rebalance starts and cleared only once the new assignment's tables are recovered."""
        ownership.observe(
            settled=not app.rebalancing and not app.in_recovery,
            generation=app.consumer_generation_id,
            partitions={
                tp.partition
                for tp in app.assignor.assigned_actives()
                if tp.topic == routed.get_topic_name()
            },
        )

    @app.timer(interval=TICK_S)
    async def release_due() -> None:
        refresh_ownership()
        now = clock()
        # Only subscribers whose state this notifier has recovered: deciding over a state
        # not recovered yet would write an empty one over the real one in the changelog.
        for subscriber_id in ownership.due(now, wakeups):
            try:
                await decide(subscriber_id, None)
            except Exception:
                log.exception("notice_release_failed", subscriber=subscriber_id)
                wakeups[subscriber_id] = now + 5.0  # try again later, not every tick

    @app.task
    async def start_dispatcher() -> None:
        dispatcher.start()

    @app.on_before_shutdown.connect  # type: ignore[arg-type]  # faust's signal stub is narrower
    async def stop_dispatcher(_app: faust.App, **_kwargs: Any) -> None:
        await dispatcher.stop()
        if sink is not None:
            await asyncio.get_running_loop().run_in_executor(None, sink.flush)

    if sink is not None:

        @app.timer(interval=settings.influx_flush_interval)
        async def flush_history() -> None:
            if len(sink):
                await asyncio.get_running_loop().run_in_executor(None, sink.flush)

    return app
