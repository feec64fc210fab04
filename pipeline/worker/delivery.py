"""How a unit of work's records reach Kafka: at least once, or exactly once in a transaction.

The worker processes its input in units, each owned by one task (an input partition number:
the same partition of the observations and the commands, which faust assigns together; or
the ledger's one partition): the events of one task in a batch, or the clock-driven checks.
A unit computes its outputs and changed state, hands every record to :attr:`Unit.sink`, and
says which input offsets it consumed (:meth:`Unit.consumed`).

- :class:`AtLeastOnce`: the records go to faust's producer; the units' offsets are committed
  later (:meth:`Delivery.commit_consumed`, every ``CW_COMMIT_INTERVAL_S``), after flushing that
  producer, so a crash in between replays the units and their outputs are produced again.
- :class:`ExactlyOnce`: each task has its own transactional producer (transactional id
  ``<app id>-<task>``), so a restarted or new owner of the task fences the old one and Kafka
  aborts whatever that one left open. A unit is one transaction: its records and its input
  offsets (``send_offsets_to_transaction``) commit together or not at all. Units of a task
  run one at a time in the order they were started, and a unit computes inside that turn, so
  the order of commits is the order of the state changes. A failed transaction stops the
  worker: its in-memory state may be ahead of what Kafka holds, so nothing more may be
  committed from it; the replacement recovers the committed state and replays the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import InvalidProducerEpoch, ProducerFenced
from aiokafka.structs import TopicPartition
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from pipeline.worker.batch_send import BatchingProducer, ProducerSink

log = structlog.get_logger(__name__)

#: How long Kafka lets a transaction stay open before aborting it (and fencing its producer,
#: which stops the worker). A unit takes milliseconds, but an indicator roll-up on a starved
#: machine was seen to exceed 60 s; a worker that takes a dead one's task over aborts its
#: open transaction at once, so the limit only matters when nobody does.
TRANSACTION_TIMEOUT_MS = 300_000
TRANSACTION_RETRY_BACKOFF_MS = 5
#: What a producer gets once another one started with its transactional id.
FENCED = (ProducerFenced, InvalidProducerEpoch)


@dataclass
class Unit:
    """One unit of work: where its records go and which input offsets it consumed."""

    sink: ProducerSink
    offsets: dict[TopicPartition, int] = field(default_factory=dict)

    def consumed(self, topic: str, partition: int, offset: int) -> None:
        """The input record at ``offset`` is done: its outputs are in this unit."""
        tp = TopicPartition(topic, partition)
        self.offsets[tp] = max(self.offsets.get(tp, 0), offset + 1)


class Delivery(Protocol):
    def unit(
        self,
        task: str,
        *,
        holding: Iterable[str] = (),
        consuming: Mapping[TopicPartition, int] | None = None,
    ) -> contextlib.AbstractAsyncContextManager[Unit]:
        """The :class:`Unit` of ``task`` (whose producer it uses), run after the units
        already started of ``task`` and of every task in ``holding``. ``consuming``: the
        input offsets the unit consumes, when known before it runs (it starts with them)."""
        ...

    def owns(self, task: str) -> bool:
        """Whether ``task`` is this worker's now (not given up in a rebalance)."""
        ...

    @property
    def committed(self) -> Mapping[TopicPartition, int]:
        """The next offset to read of each input partition, as last committed from here."""
        ...

    async def commit_consumed(self) -> None:
        """Commit the offsets of the units that finished, if they are not committed yet."""
        ...

    async def acquire(self, tasks: Iterable[str]) -> None: ...

    async def release(self, tasks: Iterable[str]) -> None: ...

    async def close(self) -> None: ...


class AtLeastOnce:
    """Every unit's records on one (faust's) producer; the units' offsets committed every so
    often (:meth:`commit_consumed`) once that producer has delivered everything before."""

    def __init__(
        self,
        sink: ProducerSink,
        *,
        flush: Callable[[], Awaitable[Any]],
        commit: Callable[[Mapping[TopicPartition, int]], Awaitable[Any]],
    ) -> None:
        self._sink = sink
        self._flush = flush
        self._commit = commit
        self._done: dict[TopicPartition, int] = {}
        self._committed: dict[TopicPartition, int] = {}

    @property
    def committed(self) -> Mapping[TopicPartition, int]:
        return self._committed

    @contextlib.asynccontextmanager
    async def unit(
        self,
        task: str,
        *,
        holding: Iterable[str] = (),
        consuming: Mapping[TopicPartition, int] | None = None,
    ) -> AsyncIterator[Unit]:
        unit = Unit(self._sink, dict(consuming or {}))
        yield unit
        self._done.update(unit.offsets)

    async def commit_consumed(self) -> None:
        if not self._done:
            return
        offsets, self._done = self._done, {}
        await self._flush()  # every output of those units acknowledged first
        await self._commit(offsets)
        self._committed.update(offsets)

    def owns(self, task: str) -> bool:
        return True

    async def acquire(self, tasks: Iterable[str]) -> None:
        return None

    async def release(self, tasks: Iterable[str]) -> None:
        # Partitions leave with their offsets committed, so their next owner replays little.
        await self.commit_consumed()

    async def close(self) -> None:
        await self.commit_consumed()


class TransactionsFailed(RuntimeError):
    """An earlier transaction failed; this worker must not commit anything more."""


class TaskGivenUp(RuntimeError):
    """The task went to another worker in a rebalance: its unit must not run here (the new
    owner processes that input from the committed offsets)."""


class ExactlyOnce:
    """One transactional producer per task; one transaction per unit."""

    def __init__(
        self,
        *,
        app_id: str,
        new_producer: Callable[[str], AIOKafkaProducer],
        partition_of: Callable[[str, bytes], int],
        on_failure: Callable[[BaseException], None],
    ) -> None:
        self._app_id = app_id  # also the consumer group whose offsets the units commit
        self._new_producer = new_producer
        self._partition_of = partition_of
        self._on_failure = on_failure
        self._producers: dict[str, AIOKafkaProducer] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._failed: BaseException | None = None
        self._owned: set[str] = set()
        self._given_up: set[str] = set()
        self._committed: dict[TopicPartition, int] = {}
        self._stopping: set[asyncio.Future[None]] = set()
        self.transactions = 0

    @property
    def committed(self) -> Mapping[TopicPartition, int]:
        return self._committed

    async def commit_consumed(self) -> None:
        return None  # each unit's transaction committed its offsets

    def owns(self, task: str) -> bool:
        return task in self._owned

    def transactional_id(self, task: str) -> str:
        return f"{self._app_id}-{task}"

    def _lock(self, task: str) -> asyncio.Lock:
        return self._locks.setdefault(task, asyncio.Lock())

    async def _producer(self, task: str) -> AIOKafkaProducer:
        producer = self._producers.get(task)
        if producer is None:
            # start() gets the producer id of the transactional id: Kafka fences every
            # other producer with that id and aborts its open transaction.
            producer = self._new_producer(self.transactional_id(task))
            await producer.start()
            self._producers[task] = producer
        return producer

    def _fail(self, error: BaseException, task: str | None = None) -> None:
        if task is not None and isinstance(error, FENCED):
            self._fenced(task)
            return
        if self._failed is not None:
            return
        self._failed = error
        if isinstance(error, asyncio.CancelledError | GeneratorExit):
            return  # stopping anyway
        log.error("transaction_failed", error=repr(error))
        self._on_failure(error)

    def _fenced(self, task: str) -> None:
        """Another worker started ``task``'s producer: the task is its now. Kafka aborted this
        worker's open transaction of the task, and the new owner processes that input again
        from the committed offsets; here the task is given up (no unit of it runs any more)
        instead of stopping the whole worker. The partitions' state in memory may hold the
        aborted unit's changes: the rebalance that gave the task away takes the partitions
        from this worker, and a partition assigned again is read afresh from its changelog
        (pipeline.worker.bulk_store)."""
        if task in self._given_up:
            return
        log.warning("task_fenced", task=task)
        self._owned.discard(task)
        self._given_up.add(task)
        producer = self._producers.pop(task, None)
        if producer is not None:
            stopping = asyncio.ensure_future(self._stop_after_unit(task, producer))
            self._stopping.add(stopping)
            stopping.add_done_callback(self._stopping.discard)

    async def _stop_after_unit(self, task: str, producer: AIOKafkaProducer) -> None:
        # A unit of the task may be in flight (one of its sends found out): stopping the
        # producer under it cancels its sender, and aiokafka then never ends the transaction
        # the unit waits to commit. Once the unit has failed (Kafka refuses the fenced
        # producer's requests), the task's lock is free.
        async with self._lock(task):
            await producer.stop()

    @contextlib.asynccontextmanager
    async def unit(
        self,
        task: str,
        *,
        holding: Iterable[str] = (),
        consuming: Mapping[TopicPartition, int] | None = None,
    ) -> AsyncIterator[Unit]:
        async with contextlib.AsyncExitStack() as locks:
            # All at once, so a unit holding every task waits as long as the longest unit in
            # flight, not their sum, while the locks it has hold their tasks back. (No unit
            # but the silence check holds more than one task, and it runs one at a time, so
            # this cannot deadlock.)
            names = sorted({task, *holding})
            await _acquire_all([self._lock(name) for name in names])
            for name in names:
                locks.callback(self._lock(name).release)
            if self._failed is not None:
                raise TransactionsFailed(repr(self._failed))
            if task in self._given_up:
                # A unit of input taken before the rebalance: starting the task's producer
                # again would fence its new owner.
                raise TaskGivenUp(task)
            early: asyncio.Future[Any] | None = None
            try:
                producer = await self._producer(task)
                await producer.begin_transaction()
                if consuming:
                    # The offsets join the transaction (two requests to Kafka) while the
                    # unit computes, instead of after it; they commit with it or not at all.
                    early = asyncio.ensure_future(
                        producer.send_offsets_to_transaction(dict(consuming), self._app_id)
                    )

                def current() -> BatchingProducer:
                    return cast(BatchingProducer, producer)

                def failed(error: BaseException) -> None:
                    self._fail(error, task)

                sink = ProducerSink(current, self._partition_of, on_failure=failed)
                unit = Unit(sink, dict(consuming or {}))
                yield unit
                rest = unit.offsets
                if early is not None and consuming is not None:
                    await early  # what the unit consumed beyond them still goes
                    rest = {tp: n for tp, n in rest.items() if consuming.get(tp) != n}
                if rest:
                    await producer.send_offsets_to_transaction(rest, self._app_id)
                await producer.commit_transaction()
                self._committed.update(unit.offsets)
                self.transactions += 1
            except TaskGivenUp:
                _settle(early)
                raise
            except BaseException as exc:
                _settle(early)
                if isinstance(exc, FENCED) or task in self._given_up:
                    self._fenced(task)  # (a send of this unit may have found out first)
                    raise TaskGivenUp(task) from exc
                self._fail(exc)
                raise

    async def acquire(self, tasks: Iterable[str]) -> None:
        """Take ``tasks`` over now (fencing their previous owner) rather than at their first
        unit: until then its open transaction holds back every read-committed reader of
        the partitions it wrote, table recovery included."""
        for task in tasks:
            async with self._lock(task):
                self._owned.add(task)
                self._given_up.discard(task)
                if self._failed is None:
                    await self._producer(task)

    async def release(self, tasks: Iterable[str]) -> None:
        """Stop the producers of tasks given to another worker, after their last unit."""
        for task in tasks:
            self._owned.discard(task)  # no clock-driven unit starts for it any more
            self._given_up.add(task)
            async with self._lock(task):
                producer = self._producers.pop(task, None)
                if producer is not None:
                    await producer.stop()

    async def close(self) -> None:
        await self.release(list(self._producers))


def _settle(request: asyncio.Future[Any] | None) -> None:
    """A unit failed: stop waiting for its early offsets request, and retrieve its error
    (the transaction is aborted or the task given up either way)."""
    if request is None:
        return
    if not request.done():
        request.cancel()
    elif not request.cancelled():
        request.exception()


async def _acquire_all(locks: list[asyncio.Lock]) -> None:
    """Acquire every lock, waiting for them side by side; none is held if this fails."""
    if len(locks) == 1:
        await locks[0].acquire()
        return
    waits = [asyncio.ensure_future(lock.acquire()) for lock in locks]
    try:
        await asyncio.gather(*waits)
    except BaseException:
        for lock, wait in zip(locks, waits, strict=True):
            if not wait.done():
                wait.cancel()
            elif not wait.cancelled() and wait.exception() is None:
                lock.release()
        raise


def transactional_producer(conf: Any, bootstrap: str, transactional_id: str) -> AIOKafkaProducer:
    """An aiokafka producer configured as faust configures its own (``conf`` is the faust
    app's), with ``transactional_id`` (which implies idempotence and acks from every
    in-sync replica)."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=conf.broker_client_id,
        transactional_id=transactional_id,
        transaction_timeout_ms=TRANSACTION_TIMEOUT_MS,
        acks="all",
        linger_ms=int(conf.producer_linger * 1000),
        max_batch_size=conf.producer_max_batch_size,
        max_request_size=conf.producer_max_request_size,
        compression_type=conf.producer_compression_type,
        request_timeout_ms=int(conf.producer_request_timeout * 1000),
        # Kafka 4 answers a produce request that comes right after a partition joined the
        # transaction with a retriable NOT_ENOUGH_REPLICAS until it verified the join (KIP-890);
        # aiokafka's 100 ms default backoff made every unit wait that long.
        retry_backoff_ms=TRANSACTION_RETRY_BACKOFF_MS,
        # The app's credentials (pipeline.ops.kafka_security built them for faust).
        **credentials_to_aiokafka_auth(conf.broker_credentials, conf.ssl_context),
    )
