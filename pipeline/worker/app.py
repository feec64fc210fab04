"""The faust application: topics, the state table, one agent and two timers.

Everything decided about an observation lives in :mod:`pipeline.worker.processor`; this
module only moves bytes between Kafka, the changelog-backed table and that processor.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator, MutableMapping
from typing import Any

import faust
import structlog
from influxdb_client.client.influxdb_client import InfluxDBClient
from prometheus_client import CollectorRegistry

from pipeline.metrics import WorkerMetrics
from pipeline.settings import Settings
from pipeline.sinks.influx import InfluxSink
from pipeline.status import SilencePolicy, StatusTracker
from pipeline.worker.processor import ObservationProcessor, Outputs

log = structlog.get_logger(__name__)


class RawKeyStore(MutableMapping[str, Any]):
    """The state table seen with ``str`` keys; the table itself holds ``bytes`` keys."""

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


def create_app(
    settings: Settings,
    registry: CollectorRegistry,
    *,
    clock: Callable[[], float] = time.time,
    influx: InfluxDBClient | None = None,
) -> faust.App:
    """Build a worker app; nothing connects until the faust worker starts it."""
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="memory://",
        datadir=settings.data_dir,
        web_enabled=False,
        topic_partitions=settings.partitions,
        topic_replication_factor=1,
        table_standby_replicas=0,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
    )
    topics = settings.topics
    observations = app.topic(
        topics.observations,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.partitions,
    )
    status_topic = app.topic(topics.status, key_serializer="raw", value_serializer="raw")
    deadletter_topic = app.topic(topics.deadletter, key_serializer="raw", value_serializer="raw")
    # use_partitioner: a table key lands on the changelog partition Kafka's default
    # partitioner picks for it, the same one connectors produce its observations to, which
    # also lets the silence timer write outside any stream event.
    # Keys are the raw service_id bytes, exactly as connectors key their observations, so a
    # changelog entry lands on the partition of the service's own observations.
    table = app.Table(
        "service-state",
        default=None,
        key_type=bytes,  # serialised "raw"; values default to JSON
        partitions=settings.partitions,
        use_partitioner=True,
    )
    states = RawKeyStore(table)

    metrics = WorkerMetrics(registry)
    sink = (
        InfluxSink(influx, bucket=settings.influx_bucket, org=settings.influx_org, metrics=metrics)
        if influx is not None
        else None
    )
    tracker = StatusTracker(
        SilencePolicy(
            default_interval=settings.default_interval,
            lateness_allowance=settings.lateness_allowance,
        )
    )
    processor = ObservationProcessor(tracker, metrics, clock=clock, sink=sink)
    shown: set[str] = set()

    async def send(outputs: Outputs) -> None:
        for key, value in outputs.status:
            await status_topic.send(key=key, value=value)
        for dl_key, value in outputs.deadletter:
            await deadletter_topic.send(key=dl_key, value=value)

    @app.agent(observations)
    async def process(stream: faust.StreamT[Any]) -> AsyncIterator[None]:
        async for event in stream.events():
            message = event.message
            outputs = processor.handle(
                event.value,
                states,
                topic=message.topic,
                partition=message.partition,
                offset=message.offset,
            )
            await send(outputs)
            yield None

    @app.timer(interval=settings.silence_check_interval)
    async def check_silence() -> None:
        owned = {
            tp.partition
            for tp in app.assignor.assigned_actives()
            if tp.topic == topics.observations
        }
        keys = [key for key, value in states.items_raw() if value and value["partition"] in owned]
        metrics.services_tracked.set(len(keys))
        # After a restart or rebalance the table is recovered but the gauges are empty.
        for key in keys:
            if key not in shown:
                processor.show(states, key)
                shown.add(key)
        await send(processor.check_silence(states, keys))

    if sink is not None:

        @app.timer(interval=settings.influx_flush_interval)
        async def flush_history() -> None:
            if len(sink):
                await asyncio.get_running_loop().run_in_executor(None, sink.flush)

        @app.on_before_shutdown.connect  # type: ignore[arg-type]  # faust's signal stub is narrower
        async def final_flush(_app: faust.App, **_kwargs: Any) -> None:
            await asyncio.get_running_loop().run_in_executor(None, sink.flush)

    return app
