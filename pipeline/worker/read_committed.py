"""faust's Kafka transport with a consumer that reads committed records only.

faust reads ``read_committed`` only under its own ``processing_guarantee="exactly_once"``,
whose transactions do not fit the worker (see docs/reliability.md, "Exactly-once output").
The worker's transactions are its own (:mod:`pipeline.worker.delivery`), so every faust app
of the pipeline (worker, notifier) uses this transport instead: records of an aborted
transaction (a worker killed mid-batch, a fenced zombie) are never seen, neither by the
agents nor by table recovery from a changelog (which is told where the records it can see
end: a transactional changelog ends with a commit marker no reader receives).

With ``offsets_in_transactions`` the consumer also leaves committing offsets to those
transactions: faust still tracks what was acknowledged (it is what the progress view shows),
but a plain offset commit racing a transaction's could move the group's offset back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any, ClassVar, cast

import aiokafka
import faust
import structlog
from aiokafka.structs import TopicPartition
from faust.transport.drivers import aiokafka as driver
from faust.types import TP

from pipeline.worker.batch_drain import BatchDrain

log = structlog.get_logger(__name__)

READ_COMMITTED = "read_committed"


#: Longest the broker holds a fetch waiting for records (faust's own value is 1 500 ms).
FETCH_MAX_WAIT_MS = 100

#: Longest wait for open transactions before recovery (the taking-over worker aborts a dead
#: one's within seconds; after this the recovery goes on and logs a warning).
DECIDED_TIMEOUT_S = 90.0
#: How far back from a partition's end :func:`after_last_visible` first looks.
TAIL_OFFSETS = 16


class ReadCommittedConsumerThread(driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: driver.Transport) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka takes the isolation level at construction and applies it at start().
        consumer._isolation_level = READ_COMMITTED
        # faust asks the broker to hold a fetch up to 1.5 s for more data; a fetch parked on
        # partitions that are quiet then delays records arriving on the others.
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer

    async def _highwaters(self, partitions: list[TP]) -> Mapping[TP, int]:
        # Table recovery reads a changelog until it has seen the record before the end
        # offset; a transactional changelog ends with a commit marker, which no reader
        # ever sees, so recovery is given the end of what it will see instead.
        transport = cast(driver.Transport, self.transport)
        bootstrap = driver.server_list(transport.url, transport.default_port)
        # A transaction of the previous owner still open (aborted once this worker takes its
        # tasks over) or committing (its markers are on their way) would end up in the state
        # or not depending on timing: recover only once every one of them is decided.
        auth = client_auth(transport.app)
        await wait_for_decided_transactions(bootstrap, partitions, auth=auth)
        ends = await super()._highwaters(partitions)
        return await after_last_visible(bootstrap, ends, auth=auth)


def client_auth(app: Any) -> dict[str, Any]:
    """The aiokafka credentials of a faust ``app`` (built by pipeline.ops.kafka_security)."""
    return dict(
        driver.credentials_to_aiokafka_auth(app.conf.broker_credentials, app.conf.ssl_context)
    )


async def wait_for_decided_transactions(
    bootstrap: Any,
    partitions: list[TP],
    *,
    timeout_s: float = DECIDED_TIMEOUT_S,
    auth: Mapping[str, Any] | None = None,
) -> None:
    """Wait until no transaction is open in ``partitions``: their last stable offset (what
    read_committed ends at) equals their high watermark. ``auth``: client credentials."""
    tps = [TopicPartition(tp.topic, tp.partition) for tp in partitions]
    if not tps:
        return
    uncommitted = aiokafka.AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None, **(auth or {})
    )
    committed = aiokafka.AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        group_id=None,
        isolation_level=READ_COMMITTED,
        **(auth or {}),
    )
    await uncommitted.start()
    await committed.start()
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            high = await uncommitted.end_offsets(tps)
            stable = await committed.end_offsets(tps)
            if all(stable[tp] >= high[tp] for tp in tps):
                return
            await asyncio.sleep(0.1)
        log.warning("changelog_transactions_still_open", timeout_s=timeout_s)
    finally:
        await uncommitted.stop()
        await committed.stop()


async def after_last_visible(
    bootstrap: Any, ends: Mapping[TP, int], *, auth: Mapping[str, Any] | None = None
) -> dict[TP, int]:
    """For each partition, one past the offset of the last record a read-committed reader
    receives below ``ends`` (0 when there is none): the end offset minus the transaction
    markers and aborted records after that record."""
    if not any(end is not None and end > 0 for end in ends.values()):
        return dict(ends)
    consumer = aiokafka.AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        group_id=None,
        isolation_level=READ_COMMITTED,
        **(auth or {}),
    )
    await consumer.start()
    try:
        return await last_visible_ends(consumer, ends)
    finally:
        await consumer.stop()


async def last_visible_ends(
    consumer: aiokafka.AIOKafkaConsumer, ends: Mapping[TP, int]
) -> dict[TP, int]:
    """:func:`after_last_visible` with a started, group-less, read-committed ``consumer`` of
    the caller's (its assignment is changed)."""
    result = dict(ends)
    for tp, end in ends.items():
        if end is None or end <= 0:
            continue
        back = TAIL_OFFSETS
        while True:
            start = max(0, end - back)
            last = await _last_offset(consumer, TopicPartition(tp.topic, tp.partition), start, end)
            if last is not None or start == 0:
                result[tp] = 0 if last is None else last + 1
                break
            back *= 16
    return result


async def _last_offset(
    consumer: aiokafka.AIOKafkaConsumer, tp: TopicPartition, start: int, end: int
) -> int | None:
    consumer.assign([tp])
    consumer.seek(tp, start)
    last: int | None = None
    while await consumer.position(tp) < end:
        for records in (await consumer.getmany(tp, timeout_ms=1000)).values():
            offsets = [r.offset for r in records if r.offset < end]
            if offsets:
                last = max(offsets) if last is None else max(last, *offsets)
    return last


class ReadCommittedConsumer(BatchDrain, driver.Consumer):
    offsets_in_transactions: ClassVar[bool] = False

    def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
        return ReadCommittedConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _commit(self, offsets: Mapping[TP, int]) -> bool:
        if self.offsets_in_transactions:
            return True  # already committed, each inside the transaction of its outputs
        committed: bool = await super()._commit(offsets)
        return committed


class TransactionalOffsetsConsumer(ReadCommittedConsumer):
    offsets_in_transactions = True


class ReadCommittedTransport(driver.Transport):
    Consumer = ReadCommittedConsumer


class TransactionalOffsetsTransport(driver.Transport):
    Consumer = TransactionalOffsetsConsumer


def use_read_committed(app: faust.App, *, offsets_in_transactions: bool = False) -> None:
    """Give ``app`` the read-committed transport; call before anything touches its consumer."""
    transport = TransactionalOffsetsTransport if offsets_in_transactions else ReadCommittedTransport
    app.transport = transport(app.conf.broker_consumer, app)
