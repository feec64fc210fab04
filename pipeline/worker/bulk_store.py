"""An in-memory faust table store that reads its changelog partitions in bulk when assigned.

faust's own recovery hands every changelog record through its consumer, stream and recovery
loops one at a time: ≈ 150 to 200 µs per record on the bench machine, 5 000 to 6 600 records/s,
whatever the record's size (docs/benchmarks.md, "Round 4: recovery"). A worker recovering a
million services (and the ledger's million service references) spent minutes there.

:class:`BulkLoadStore` is faust's memory store plus one step: when a table's changelog
partitions are newly assigned it reads them itself, from the earliest offset to the end, with
a plain aiokafka consumer (``getmany``: a few µs per record) and reports the partition's last offset
at assignment as its *persisted offset* — the mechanism faust uses for its RocksDB store,
which keeps its state on disk — so faust's own recovery replays only records written after
that. The table contents end up the same: the latest value per key, tombstones applied, keys
of the partition only.

The rebalance listener only asks for the end offsets and the last visible record
(heartbeats stop while it runs, so a long read there would get the worker expelled from its
group after the session timeout); the read itself, with the same consumer, runs alongside
faust's recovery and is awaited in ``on_recovery_completed``,
before faust resumes the streams. A key faust's recovery writes while the read runs keeps
faust's (newer) value. A read that fails stops the worker, which then starts over; a read
cut short by another rebalance starts again for the partitions still assigned.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.stores import STORES
from faust.stores.memory import Store as MemoryStore
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth, server_list
from faust.types import TP

from pipeline.worker.read_committed import last_visible_ends
from pipeline.worker.table_values import RESTORED_FORMS

log = structlog.get_logger(__name__)

#: The URL scheme the store is registered under (see :func:`bulk_store_url`).
SCHEME = "bulkmemory"

#: Records per ``getmany`` call and bytes per partition per fetch.
MAX_RECORDS = 20_000
MAX_PARTITION_FETCH_BYTES = 8 * 1024 * 1024


def bulk_store_url() -> str:
    """The ``store`` URL for faust settings; registers :class:`BulkLoadStore` under it.

    >>> bulk_store_url(), STORES.by_url(bulk_store_url()).__name__
    ('bulkmemory://', 'BulkLoadStore')
    """
    STORES.aliases.setdefault(SCHEME, f"{__name__}:BulkLoadStore")
    return f"{SCHEME}://"


class BulkLoadStore(MemoryStore[Any, Any]):
    """faust's in-memory store; newly assigned changelog partitions are read in bulk."""

    def __post_init__(self) -> None:
        super().__post_init__()
        # Changelog partition -> the offset faust's recovery starts from (this rebalance).
        self._persisted: dict[TP, int] = {}
        self._loading: asyncio.Task[None] | None = None
        # The consumer of this rebalance's end offsets, tail scan and read.
        self._reader: AIOKafkaConsumer | None = None
        self._loading_tps: set[TP] = set()
        # Keys faust's recovery applied while a bulk read runs: their values are newer.
        self._newer: set[Any] = set()

    def persisted_offset(self, tp: TP) -> int | None:
        """Where faust's recovery starts reading ``tp`` (None: where it stopped before)."""
        return self._persisted.get(tp)

    async def on_rebalance(
        self,
        assigned: set[TP],
        revoked: set[TP],
        newly_assigned: set[TP],
        generation_id: int = 0,
    ) -> None:
        """Start reading this table's newly assigned active changelog partitions."""
        # Only this rebalance's reads may move faust's start: a partition kept from before
        # resumes where faust's recovery left it, exactly as with the memory store.
        self._persisted.clear()
        topic = self.table.changelog_topic.get_topic_name()
        actives = {tp for tp in self.app.assignor.assigned_actives() if tp.topic == topic}
        wanted = {tp for tp in newly_assigned if tp in actives}
        if self._loading is not None:  # cut short: read again what is still ours
            self._loading.cancel()
            await asyncio.gather(self._loading, return_exceptions=True)
            await self._close_reader()  # the read may have been cancelled before it began
            wanted |= self._loading_tps & actives
            self._loading = None
        if not wanted:
            return
        self._drop({tp.partition for tp in wanted})  # leftovers; the changelog has them
        # One consumer per rebalance: end offsets, last visible records, then the read.
        self._reader = self._consumer()
        ends = await self._end_offsets(self._reader, wanted)
        if ends is None:  # faust reads these partitions from the start, as it always did
            await self._close_reader()
            for tp in wanted:
                self._persisted[tp] = -1
            return
        # The worker's changelogs are transactional: the end offset counts commit markers no
        # reader receives, and faust's recovery (pipeline.worker.read_committed) ends at the
        # last record it can see, so the persisted offset must not go past that record.
        try:
            visible = await last_visible_ends(self._reader, ends)
        except BaseException:
            await self._close_reader()
            raise
        for tp in wanted:
            # faust seeks to this offset and re-applies that one record (its "offset - 1"
            # convention); -1 means an empty partition.
            self._persisted[tp] = visible.get(tp, 0) - 1
        self._newer.clear()
        self._loading_tps = wanted
        self._loading = asyncio.ensure_future(self._load(self._reader, ends))

    def apply_changelog_batch(self, batch: Any, to_key: Any, to_value: Any) -> None:
        """faust's recovery applies records past the bulk read; remember their keys."""
        if self._loading is not None:
            events = list(batch)
            self._newer.update(to_key(event.key) for event in events)
            batch = events
        super().apply_changelog_batch(batch, to_key, self._in_form(to_value))

    async def on_recovery_completed(self, active_tps: set[TP], standby_tps: set[TP]) -> None:
        """Wait for the bulk read before faust resumes the streams."""
        loading = self._loading
        if loading is not None:
            try:
                await loading
            except Exception as exc:
                log.error("changelog_bulk_load_failed", table=self.table_name, error=repr(exc))
                self._drop({tp.partition for tp in self._loading_tps})
                await self.app.crash(exc)  # never run on a partial table: restart instead
                raise
            finally:
                self._loading = None
                self._newer.clear()
        await super().on_recovery_completed(active_tps, standby_tps)

    async def _end_offsets(self, consumer: AIOKafkaConsumer, tps: set[TP]) -> dict[TP, int] | None:
        """Starts ``consumer``; None when the broker did not answer."""
        try:
            await consumer.start()
            # Assigned at once: aiokafka's stop() of a consumer never assigned raises
            # CancelledError.
            consumer.assign([TopicPartition(tp.topic, tp.partition) for tp in tps])
            ends = await consumer.end_offsets(
                [TopicPartition(tp.topic, tp.partition) for tp in tps]
            )
        except Exception as exc:
            log.warning("changelog_end_offsets_failed", table=self.table_name, error=repr(exc))
            return None
        by_tp = {TopicPartition(tp.topic, tp.partition): tp for tp in tps}
        return {by_tp[tp]: offset for tp, offset in ends.items()}

    async def _close_reader(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            await reader.stop()

    async def _load(self, consumer: AIOKafkaConsumer, ends: dict[TP, int]) -> None:
        """Apply every record before ``ends`` of those partitions with ``consumer`` (started,
        stopped here whatever happens)."""
        tps = {TopicPartition(tp.topic, tp.partition): tp for tp, end in ends.items() if end > 0}
        started = time.monotonic()
        records = 0
        try:
            if not tps:
                return
            log.info("changelog_bulk_load_started", table=self.table_name, partitions=len(tps))
            consumer.assign(list(tps))
            await consumer.seek_to_beginning(*tps)
            remaining = set(tps)
            while remaining:
                batches = await consumer.getmany(
                    *remaining, timeout_ms=1000, max_records=MAX_RECORDS
                )
                for tp, batch in batches.items():
                    end = ends[tps[tp]]
                    self._apply(tp.partition, [(r.key, r.value) for r in batch if r.offset < end])
                    records += len(batch)
                for tp in list(remaining):
                    if await consumer.position(tp) >= ends[tps[tp]]:
                        remaining.discard(tp)
                        consumer.pause(tp)
        finally:
            await consumer.stop()
            if self._reader is consumer:
                self._reader = None
        seconds = time.monotonic() - started
        log.info(
            "changelog_bulk_loaded",
            table=self.table_name,
            partitions=len(tps),
            records=records,
            keys=len(self.data),
            seconds=round(seconds, 3),
            records_per_s=round(records / seconds) if seconds > 0 else None,
        )

    def _apply(self, partition: int, records: Iterable[tuple[bytes | None, bytes | None]]) -> None:
        """Apply changelog records as faust's ``apply_changelog_batch`` does, except to keys
        faust's recovery has written meanwhile."""
        data = self.data
        key_partition = self._key_partition
        newer = self._newer
        table: Any = self.table  # the Collection's conversions (CollectionT lacks them)
        to_key, to_value = table._to_key, self._in_form(table._to_value)
        decode_key, decode_value = self._decode_key, self._decode_value
        for raw_key, raw_value in records:
            if raw_key is None:
                continue
            key = to_key(decode_key(raw_key))
            if key in newer:
                continue
            if raw_value is None:  # a tombstone
                data.pop(key, None)
                key_partition.pop(key, None)
                continue
            data[key] = to_value(decode_value(raw_value))
            key_partition[key] = partition

    def _in_form(self, to_value: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """``to_value`` followed by the table's in-memory form (pipeline.worker.table_values),
        if it has one; a value not in the expected shape is kept as decoded."""
        form = RESTORED_FORMS.get(self.table_name)
        if form is None:
            return to_value

        def in_form(value: Any) -> Any:
            value = to_value(value)
            try:
                return form(value) if value is not None else None
            except (KeyError, TypeError, ValueError):
                return value

        return in_form

    def _drop(self, partitions: set[int]) -> None:
        stale = [key for key, partition in self._key_partition.items() if partition in partitions]
        for key in stale:
            self.data.pop(key, None)
            self._key_partition.pop(key, None)

    def _consumer(self) -> AIOKafkaConsumer:
        """A group-less consumer with the worker's broker, credentials and isolation level."""
        conf = self.app.conf
        transport: Any = self.app.transport
        return AIOKafkaConsumer(
            bootstrap_servers=server_list(transport.url, transport.default_port),
            client_id=f"{conf.broker_client_id}-bulk-load",
            group_id=None,
            enable_auto_commit=False,
            # The worker's changelogs are written in its own transactions
            # (pipeline.worker.delivery): an aborted batch's records must never be loaded.
            isolation_level="read_committed",
            max_partition_fetch_bytes=max(MAX_PARTITION_FETCH_BYTES, conf.consumer_max_fetch_size),
            fetch_max_bytes=4 * MAX_PARTITION_FETCH_BYTES,
            check_crcs=conf.broker_check_crcs,
            request_timeout_ms=int(conf.broker_request_timeout * 1000.0),
            **credentials_to_aiokafka_auth(conf.broker_credentials, conf.ssl_context),
        )
