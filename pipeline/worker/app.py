"""The faust application: topics, changelog-backed tables, two agents and three timers.

Everything decided about a message lives in :mod:`pipeline.worker.processor` (per service)
and :mod:`pipeline.worker.ledger_processor` (the global view); this module only moves bytes
between Kafka, the tables and those processors.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import time
from collections.abc import Callable, Sequence
from typing import Any

import faust
import orjson
import structlog
from aiokafka.structs import TopicPartition
from influxdb_client.client.influxdb_client import InfluxDBClient
from prometheus_client import CollectorRegistry

from pipeline.config.maintenance import load_calendar
from pipeline.config.settings import SERVICE_STATE_TABLE, Settings
from pipeline.metrics.indicators import IndicatorGauges
from pipeline.metrics.units import UnitMetrics
from pipeline.metrics.worker import WorkerMetrics
from pipeline.sinks.history_process import HistoryProcess
from pipeline.sinks.influx import InfluxSink
from pipeline.worker.batch_drain import install as install_batch_input
from pipeline.worker.batch_input import (
    Batch,
    BatchInput,
    InputRecord,
    chunks,
    next_offsets,
)
from pipeline.worker.batch_send import BatchedChangelog, ProducerSink
from pipeline.worker.delivery import (
    AtLeastOnce,
    Delivery,
    ExactlyOnce,
    TaskGivenUp,
    Unit,
    transactional_producer,
)
from pipeline.worker.faust_app import pipeline_app
from pipeline.worker.key_partitioner import RememberingPartitioner
from pipeline.worker.ledger_processor import LedgerProcessor
from pipeline.worker.ledger_units import LEDGER_TASK, LedgerUnits
from pipeline.worker.live_states import LiveStates
from pipeline.worker.processor import Outputs
from pipeline.worker.progress import PartitionProgress, ProgressCollector
from pipeline.worker.publisher import LEDGER_PARTITION, Publisher
from pipeline.worker.state_writes import StateWrites
from pipeline.worker.subscriptions import subscribe
from pipeline.worker.table_values import LEDGER_SERVICES_TABLE
from pipeline.worker.task_queues import TaskQueues
from pipeline.worker.wiring import build_processor

log = structlog.get_logger(__name__)


#: The largest record batch the worker's producers build (faust's default is 16 KiB). A
#: producer hands one batch per partition to its sender at a time and waits for it to be
#: taken before the next, so a unit's changelog records (≈ 400 KB per 1 000 observations)
#: in 16 KiB batches waited for dozens of produce requests in turn. Below the broker's
#: default ``message.max.bytes`` (1 MiB) and the producer's request limit.
RECORD_BATCH_BYTES = 512 * 1024


#: How often the history writer's counts reach the worker's metrics.
HISTORY_REPORT_S = 5.0


#: How many units' worth of records (``CW_BATCH_MAX`` each) may wait in the tasks' queues
#: before the consumer stops fetching: enough for the next fetch to be processed while the
#: last one's transactions commit, few enough to bound memory.
QUEUED_FETCHES = 2


def process_task_name(partition: int) -> str:
    """The task of observations and commands partition ``partition``."""
    return f"process-{partition}"


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
    exactly_once = settings.exactly_once
    app = pipeline_app(
        settings,
        session_timeout=settings.session_timeout,
        broker_commit_interval=settings.commit_interval,
        offsets_in_transactions=exactly_once,
        producer_max_batch_size=RECORD_BATCH_BYTES,
        producer_partitioner=RememberingPartitioner(),
    )
    topics = settings.topics
    raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
    inputs = app.topic(topics.observations, topics.commands, **raw)
    process_inputs = (topics.observations, topics.commands)
    ledger_topic = app.topic(topics.ledger, **raw)
    out_names = {
        "status": topics.status,
        "incidents": topics.incidents,
        "anomalies": topics.anomalies,
        "indicators": topics.indicators,
        "deadletter": topics.deadletter,
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

    # Service states are JSON bytes encoded by LiveStates (orjson, once per batch), so faust
    # neither re-encodes them nor decodes them on recovery. Every table's changelog records
    # go out with the unit that wrote them (see pipeline.worker.batch_send), the ledger's
    # as the JSON faust would have written.
    states = BatchedChangelog(
        faust_table(SERVICE_STATE_TABLE, settings.partitions, value_type=bytes)
    )
    ledger_services = BatchedChangelog(faust_table(LEDGER_SERVICES_TABLE, 1), orjson.dumps)
    ledger_incidents = BatchedChangelog(faust_table("ledger-incidents", 1), orjson.dumps)
    ledger_state = BatchedChangelog(faust_table("ledger-state", 1), orjson.dumps)

    def partition_of(topic: str, key: bytes) -> int:
        return app.producer.key_partition(topic, key).partition

    delivery: Delivery
    if exactly_once:
        delivery = ExactlyOnce(
            app_id=settings.app_id,
            new_producer=lambda tid: transactional_producer(
                app.conf, settings.kafka_bootstrap, tid
            ),
            partition_of=partition_of,
            on_failure=lambda error: _stop_on(app, error),
        )
    else:
        delivery = AtLeastOnce(
            ProducerSink(
                lambda: app.producer._ensure_producer(),  # type: ignore[attr-defined]  # aiokafka's
                partition_of,
                on_failure=lambda error: _stop_on(app, error),
            ),
            flush=lambda: app.producer.flush(),
            commit=lambda offsets: app.consumer._commit(offsets),  # type: ignore[attr-defined]
        )

    metrics = WorkerMetrics(registry)
    units = UnitMetrics(registry)
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
        settings,
        metrics,
        calendar=calendar,
        clock=clock,
        sink=sink,
        status_points=False,
        defer_writes=settings.state_write_after > 0,
    )
    live = LiveStates(states, processor.monitoring, capacity=settings.live_states)
    # Service states changed without an output wait, and the committed offsets with them
    # (pipeline.worker.state_writes).
    writes = StateWrites(
        live,
        observations=topics.observations,
        write_after=settings.state_write_after,
        quiet_after=settings.batch_within,
    )
    ledger = LedgerProcessor(
        metrics,
        IndicatorGauges(registry),
        clock=clock,
        sink=sink,
        calendar=calendar,
        correlation_window_s=settings.correlation_window,
    )

    publish = Publisher(
        outputs=out_names,
        deadletter=topics.deadletter,
        ledger=topics.ledger,
        max_request_size=app.conf.producer_max_request_size,
        clock=clock,
    )

    def owned_partitions(topic: str) -> set[int]:
        return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic}

    def command(record: InputRecord, outputs: Outputs) -> None:
        topic, partition, offset, value = record
        try:
            processor.command(
                value, live, topic=topic, partition=partition, offset=offset, out=outputs
            )
        except Exception as exc:  # one record must never stop its partition
            processor.fail(value, exc, topic=topic, partition=partition, offset=offset, out=outputs)

    def apply(
        records: Sequence[InputRecord], unit: Unit, ends: dict[TopicPartition, int]
    ) -> Outputs:
        outputs = Outputs()
        for topic, run in itertools.groupby(records, key=lambda record: record.topic):
            if topic == topics.commands:
                for record in run:
                    command(record, outputs)
            else:  # isolates a record that raises the same way
                processor.handle_batch(
                    ((r.value, r.topic, r.partition, r.offset) for r in run), live, out=outputs
                )
        for tp, next_offset in ends.items():
            progress.processed(tp.topic, tp.partition, next_offset - 1)
        writes.processed(ends)
        # A task's records share their partition number.
        writes.write_due(
            unit, records[0].partition, dead_letters=bool(outputs.deadletter), now=clock()
        )
        processor.flush(live)
        return outputs

    async def process_task(task: str, records: Sequence[InputRecord]) -> None:
        # Each changed service is written to its table (and changelog) once per chunk, or
        # deferred (StateWrites).
        for chunk in chunks(records, settings.batch_max):
            ends = next_offsets(chunk)
            try:
                consuming = writes.commit_offsets(chunk, ends)
                async with delivery.unit(task, consuming=consuming) as unit:
                    await publish(unit, apply(chunk, unit, ends), [states])
                writes.committed(unit.offsets)
                units.committed("input", len(chunk))
            except TaskGivenUp:
                log.info("unit_skipped", task=task, records=len(chunk))
                return

    async def write_deferred(task: str, partition: int) -> None:
        # A quiet partition's deferred states, and the offsets they held back.
        with contextlib.suppress(TaskGivenUp):
            async with delivery.unit(task) as unit:
                writes.write_all(unit, partition)
                processor.flush(live)
                await publish(unit, Outputs(), [states])
            writes.committed(unit.offsets)
            units.committed("write")

    async def write_pending(partitions: set[int]) -> None:
        for partition in sorted(partitions):
            task = process_task_name(partition)
            if writes.pending(partition) and delivery.owns(task):
                await write_deferred(task, partition)

    task_topics = frozenset((*process_inputs, topics.ledger))

    def task_of(topic: str, partition: int) -> str:
        # Observations and commands of partition p are task p's; the ledger is one task.
        return LEDGER_TASK if topic == topics.ledger else process_task_name(partition)

    async def run_task(task: str, records: Sequence[InputRecord]) -> None:
        if task == LEDGER_TASK:
            await ledger_units.keep(records)
        else:
            await process_task(task, records)

    # The consumer hands each fetch of the input topics to the tasks' queues directly
    # (pipeline.worker.batch_input): each task's records run in order, the tasks side by
    # side, while the next fetch is taken; a crash before a unit's offsets are committed
    # replays its records instead of losing them. The agent subscribes the topics, so faust
    # assigns their partitions and the tables with them.
    queues: TaskQueues[InputRecord] = TaskQueues(
        run_task,
        max_waiting=QUEUED_FETCHES * settings.batch_max,
        pace=settings.batch_within,
        full=settings.batch_max,
    )
    install_batch_input(app, BatchInput(topics=task_topics, task_of=task_of, queues=queues))

    async def process_batch(batch: Batch) -> None:
        # Records faust delivers itself (none while the batch input is installed).
        queues.submit(batch)
        await queues.idle()
        queues.raise_error()

    ledger_units = LedgerUnits(
        ledger,
        services=ledger_services,
        incidents=ledger_incidents,
        state=ledger_state,
        delivery=delivery,
        publish=publish,
        units=units,
        batch_max=settings.batch_max,
    )

    subscribe(
        app,
        {"process": inputs, "ledger_agent": ledger_topic},
        task_of=task_of,
        handle=process_batch,
        batch_max=settings.batch_max,
        within=settings.batch_within,
    )

    def recovering() -> bool:
        # During a rebalance the tables are being filled from their changelogs: a service
        # read now would be decoded, kept live and judged on a state that is not complete.
        return bool(app.rebalancing or app.in_recovery)

    @app.timer(interval=settings.silence_check_interval)
    async def check_services() -> None:
        if recovering():
            return
        refresh_progress()  # the end offsets as of now, not as of the last progress tick
        # A partition far behind holds evidence not yet seen: its services are not silent.
        owned = owned_partitions(topics.observations) - progress.behind(topics.observations)
        owned = {p for p in owned if delivery.owns(process_task_name(p))}
        # Silence is judged as of the time up to which their input is processed, not as of
        # the clock: under load some evidence always waits (pipeline.worker.progress).
        lag = progress.evidence_lag(topics.observations, owned)
        if not owned or lag is None or not live.may_be_due(clock() - lag, owned):
            return
        # One unit for every owned partition's services, after their units in progress.
        tasks = [process_task_name(p) for p in sorted(owned)]
        with contextlib.suppress(TaskGivenUp):  # a rebalance began: the next tick decides
            async with delivery.unit(tasks[0], holding=tasks) as unit:
                now = clock() - lag
                await publish(unit, processor.check(live, owned, now=now), [states])
            units.committed("check")

    @app.on_rebalance_complete.connect  # type: ignore[arg-type]  # faust's signal stub is narrower
    async def freeze_recovered(_app: faust.App, **_kwargs: Any) -> None:
        # The recovered tables live as long as the partitions: the collector need not walk
        # them on every full collection (a million services' state takes seconds to walk).
        gc.freeze()

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]  # faust's signal stub is narrower
    async def take_tasks_over(_app: faust.App, assigned: set[Any], **_kwargs: Any) -> None:
        await delivery.acquire(sorted(task_names(assigned)))

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]  # faust's signal stub is narrower
    async def give_tasks_up(_app: faust.App, revoked: set[Any], **_kwargs: Any) -> None:
        gone = {tp.partition for tp in revoked if tp.topic == topics.observations}
        # Written before the partitions go (nobody owns them during the revocation), so their
        # next owner reads on from where this worker got instead of reading again.
        await write_pending(gone)
        await delivery.release(sorted(task_names(revoked)))
        # What a unit deferred since is not written: whoever reads these partitions next
        # starts from the committed offsets, which waited for it.
        live.drop_deferred(gone)
        writes.forget(gone)

    def task_names(tps: set[Any]) -> set[str]:
        return {task_of(tp.topic, tp.partition) for tp in tps if tp.topic in task_topics}

    @app.timer(interval=1.0)
    async def track_progress() -> None:
        refresh_progress()

    if writes.enabled:

        @app.timer(interval=settings.batch_within)
        async def write_quiet_partitions() -> None:
            if recovering():
                return
            for partition in sorted(owned_partitions(topics.observations)):
                task = process_task_name(partition)
                due = writes.due(
                    partition,
                    busy=queues.busy(task),
                    quiet_for=queues.quiet_for(task),
                    now=clock(),
                )
                if due and delivery.owns(task):
                    await write_deferred(task, partition)

    @app.timer(interval=settings.commit_interval)
    async def commit_consumed() -> None:
        await delivery.commit_consumed()  # at least once; exactly once commits per unit

    def refresh_progress() -> None:
        # Committed from here since; else as faust read it at assignment (no public view).
        at_assignment = getattr(app.consumer, "_committed_offset", {})
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
                committed=delivery.committed.get(tp, at_assignment.get(tp)),
            )
        progress.keep_only((tp.topic, tp.partition) for tp in assigned)

    @app.timer(interval=settings.indicator_interval)
    async def roll_up_indicators() -> None:
        owned = LEDGER_PARTITION in owned_partitions(topics.ledger) and delivery.owns(LEDGER_TASK)
        if owned and not recovering():
            await ledger_units.roll_up()

    if influx is not None:
        # In a process of its own: as a thread it held the worker's interpreter lock
        # (pipeline.sinks.history_process).
        history = HistoryProcess(settings, metrics)

        @app.task
        async def start_history() -> None:
            history.start()

        @app.timer(interval=HISTORY_REPORT_S)
        async def report_history() -> None:
            history.report()

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

    @app.on_before_shutdown.connect  # type: ignore[arg-type]  # faust's signal stub is narrower
    async def stop_producers(_app: faust.App, **_kwargs: Any) -> None:
        # A clean stop leaves nothing to read again: deferred states written, input committed.
        await write_pending(owned_partitions(topics.observations))
        await delivery.close()

    return app
