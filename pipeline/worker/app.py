"""The faust application: topics, changelog-backed tables, two agents and three timers.

Everything decided about a message lives in :mod:`pipeline.worker.processor` (per service)
and :mod:`pipeline.worker.ledger_processor` (the global view); this module only moves bytes
between Kafka, the tables and those processors.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator, MutableMapping
from typing import Any, cast

import faust
import orjson
import structlog
from aiokafka.errors import MessageSizeTooLargeError
from influxdb_client.client.influxdb_client import InfluxDBClient
from prometheus_client import CollectorRegistry

from pipeline.config.maintenance import load_calendar
from pipeline.config.settings import SERVICE_STATE_TABLE, Settings
from pipeline.core.deadletter import dead_letter_record
from pipeline.metrics.indicators import IndicatorGauges
from pipeline.metrics.worker import WorkerMetrics
from pipeline.sinks.history import TopicHistory
from pipeline.sinks.influx import InfluxSink
from pipeline.worker.batch_send import BatchedChangelog, BatchSender
from pipeline.worker.faust_app import pipeline_app
from pipeline.worker.ledger_processor import LedgerProcessor
from pipeline.worker.live_states import LiveStates
from pipeline.worker.processor import Outputs
from pipeline.worker.progress import PartitionProgress, ProgressCollector
from pipeline.worker.wiring import build_processor

log = structlog.get_logger(__name__)

LEDGER_PARTITION = 0


class RawKeyStore(MutableMapping[str, Any]):
    """A table seen with ``str`` keys; the table itself holds ``bytes`` keys."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def __getitem__(self, key: str) -> Any:
        return self._table[key.encode()]

    def get(self, key: str, default: Any = None) -> Any:
        return self._table.get(key.encode(), default)

    def __setitem__(self, key: str, value: Any) -> None:
        self._table[key.encode()] = value

    def __delitem__(self, key: str) -> None:
        del self._table[key.encode()]

    def __iter__(self) -> Iterator[str]:
        return (key.decode() for key in self._table)

    def __len__(self) -> int:
        return len(self._table)

    def items_raw(self) -> list[tuple[str, Any]]:
        return [(key.decode(), value) for key, value in list(self._table.items())]


def _stop_on(app: faust.App, error: BaseException) -> None:
    # Crash the worker as faust does when its own producer fails: nothing gets committed.
    app.add_future(app.crash(error))


def create_app(
    settings: Settings,
    registry: CollectorRegistry,
    *,
    clock: Callable[[], float] = time.time,
    influx: InfluxDBClient | None = None,
    progress: PartitionProgress | None = None,
) -> faust.App:
    """Build a worker app; nothing connects until the faust worker starts it."""
    if progress is None:
        progress = PartitionProgress(
            time.monotonic, stall_after=settings.stall_after, max_backlog=settings.batch_max
        )
    app = pipeline_app(
        settings,
        session_timeout=settings.session_timeout,
        broker_commit_interval=settings.commit_interval,
    )
    topics = settings.topics
    raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
    inputs = app.topic(topics.observations, topics.commands, **raw)
    ledger_topic = app.topic(topics.ledger, **raw)
    out_topics = {
        "status": app.topic(topics.status, **raw),
        "incidents": app.topic(topics.incidents, **raw),
        "anomalies": app.topic(topics.anomalies, **raw),
        "indicators": app.topic(topics.indicators, **raw),
        "deadletter": app.topic(topics.deadletter, **raw),
    }

    # Keys are the raw service_id bytes, exactly as connectors key their observations, and
    # use_partitioner sends each changelog entry to the partition Kafka's default partitioner
    # picks for that key: the partition of the service's own observations. It also lets the
    # timers write outside any stream event.
    def faust_table(name: str, partitions: int, **options: Any) -> Any:
        return app.Table(
            name,
            default=None,
            key_type=bytes,  # serialised "raw"; values default to JSON
            partitions=partitions,
            use_partitioner=True,
            **options,
        )

    def table(name: str, partitions: int, **options: Any) -> RawKeyStore:
        return RawKeyStore(faust_table(name, partitions, **options))

    # Service states are JSON bytes encoded by LiveStates (orjson, once per batch), so faust
    # neither re-encodes them nor decodes them on recovery; the changelog records are the
    # same JSON as before, produced per batch by `batches` (see pipeline.worker.batch_send).
    states = BatchedChangelog(
        faust_table(SERVICE_STATE_TABLE, settings.partitions, value_type=bytes)
    )
    batches = BatchSender(
        lambda: app.producer._ensure_producer(),  # type: ignore[attr-defined]  # aiokafka's
        lambda topic, key: app.producer.key_partition(topic, key).partition,
        on_failure=lambda error: _stop_on(app, error),
    )
    ledger_services = table("ledger-services", 1)
    ledger_incidents = table("ledger-incidents", 1)
    ledger_state = table("ledger-state", 1)

    metrics = WorkerMetrics(registry)
    ProgressCollector(progress, registry)
    sink = (
        InfluxSink(influx, bucket=settings.influx_bucket, org=settings.influx_org, metrics=metrics)
        if influx is not None
        else None
    )
    calendar = load_calendar(settings.maintenance_file)
    # Status and incident history is written from their topics (TopicHistory); the in-process
    # sink takes the indicator roll-ups and the evidence and anomaly points.
    processor = build_processor(
        settings, metrics, calendar=calendar, clock=clock, sink=sink, status_points=False
    )
    live = LiveStates(states, processor.monitoring, capacity=settings.live_states)
    ledger = LedgerProcessor(
        metrics,
        IndicatorGauges(registry),
        clock=clock,
        sink=sink,
        calendar=calendar,
        correlation_window_s=settings.correlation_window,
    )

    async def send(outputs: Outputs) -> None:
        states.send_through(await batches.send(states.changelog_topic, states.take_pending()))
        for name, topic in out_topics.items():
            records = getattr(outputs, name)
            keyed = [(key, value) for key, value in records if key is not None]
            unkeyed = [(key, value) for key, value in records if key is None]
            for key, value in [*unkeyed, *await batches.send(topic.get_topic_name(), keyed)]:
                try:
                    await topic.send(key=key, value=value)
                except MessageSizeTooLargeError as exc:  # an output must not stop the stream
                    log.error("output_too_large", topic=topic.get_topic_name(), size=len(value))
                    note = dead_letter_record(
                        value,
                        reason="output_too_large",
                        field=None,
                        detail=str(exc),
                        topic=topic.get_topic_name(),
                        partition=None,
                        offset=None,
                        at=clock(),
                    )
                    await out_topics["deadletter"].send(key=None, value=note)
        ledger_records = cast("list[tuple[bytes, bytes]]", outputs.ledger)
        ledger_name = ledger_topic.get_topic_name()
        for _key, value in await batches.send(
            ledger_name, ledger_records, partition=LEDGER_PARTITION
        ):
            await ledger_topic.send(key=b"ledger", value=value, partition=LEDGER_PARTITION)

    def owned_partitions(topic: str) -> set[int]:
        return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic}

    def apply(events: list[faust.EventT[Any]]) -> Outputs:
        outputs = Outputs()
        for event in events:
            message = event.message
            topic, partition, offset = message.topic, message.partition, message.offset
            handle = processor.command if topic == topics.commands else processor.handle
            try:
                handle(
                    event.value, live, topic=topic, partition=partition, offset=offset, out=outputs
                )
            except Exception as exc:  # one record must never stop its partition
                processor.fail(
                    event.value, exc, topic=topic, partition=partition, offset=offset, out=outputs
                )
            progress.processed(topic, partition, offset)
        processor.flush(live)
        return outputs

    # Batches: each changed service is written to its table (and changelog) once per batch,
    # and the batch's events are acknowledged after its state and outputs are handed to the
    # producer, so a crash replays the batch instead of losing it. CW_BATCH_MAX=1 processes
    # event by event instead (faust acknowledges each when the next is taken).
    @app.agent(inputs)
    async def process(stream: faust.StreamT[Any]) -> AsyncIterator[None]:
        if settings.batch_max <= 1:
            async for event in stream.events():
                await send(apply([event]))
                yield None
            return
        batches = cast("faust.Stream[Any]", stream).take_events(  # StreamT's stub lacks it
            settings.batch_max, within=settings.batch_within
        )
        async for events in batches:
            await send(apply(list(events)))
            yield None

    @app.agent(ledger_topic)
    async def keep_ledger(stream: faust.StreamT[Any]) -> AsyncIterator[None]:
        async for value in stream:
            try:
                record = orjson.loads(value)
            except orjson.JSONDecodeError:
                log.warning("ledger_record_malformed")
                continue
            await send(ledger.handle(record, ledger_services, ledger_incidents, ledger_state))
            yield None

    @app.timer(interval=settings.silence_check_interval)
    async def check_services() -> None:
        # A partition far behind holds evidence not yet seen: its services are not silent.
        owned = owned_partitions(topics.observations) - progress.behind(topics.observations)
        await send(processor.check(live, owned))

    @app.timer(interval=1.0)
    async def track_progress() -> None:
        committed = getattr(app.consumer, "_committed_offset", {})  # faust keeps no public view
        assigned = [
            tp
            for tp in app.assignor.assigned_actives()
            if tp.topic in (topics.observations, topics.commands)
        ]
        for tp in assigned:
            end = app.consumer.highwater(tp)
            progress.observe(
                tp.topic,
                tp.partition,
                end=end if isinstance(end, int) and end >= 0 else None,
                committed=committed.get(tp),
            )
        progress.keep_only((tp.topic, tp.partition) for tp in assigned)

    @app.timer(interval=settings.indicator_interval)
    async def roll_up_indicators() -> None:
        if LEDGER_PARTITION in owned_partitions(topics.ledger):
            await send(ledger.indicators(ledger_services, ledger_incidents))

    if influx is not None:
        history = TopicHistory(settings, influx, metrics)

        @app.task
        async def start_history() -> None:
            history.start()

        @app.on_before_shutdown.connect  # type: ignore[arg-type]  # faust's signal stub is narrower
        async def stop_history(_app: faust.App, **_kwargs: Any) -> None:
            await asyncio.get_running_loop().run_in_executor(None, history.stop)

    if sink is not None:

        @app.timer(interval=settings.influx_flush_interval)
        async def flush_history() -> None:
            if len(sink):
                await asyncio.get_running_loop().run_in_executor(None, sink.flush)

        @app.on_before_shutdown.connect  # type: ignore[arg-type]  # faust's signal stub is narrower
        async def final_flush(_app: faust.App, **_kwargs: Any) -> None:
            await asyncio.get_running_loop().run_in_executor(None, sink.flush)

    return app
