"""BulkLoadStore without Kafka: what faust's recovery applies during a bulk read wins."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from faust.types import TP

from pipeline.config.settings import Settings
from pipeline.worker.bulk_store import BulkLoadStore
from pipeline.worker.faust_app import pipeline_app


def _store() -> Any:
    app = pipeline_app(Settings(), session_timeout=10.0)
    table = app.Table("states", default=None, key_type=bytes, value_type=bytes, partitions=2)
    return table.data


def _event(key: bytes, value: bytes | None, partition: int = 0) -> Any:
    message = SimpleNamespace(value=value, partition=partition)
    return SimpleNamespace(key=key, value=value, message=message)


def test_records_faust_applies_during_a_bulk_read_are_not_overwritten() -> None:
    store = _store()
    assert isinstance(store, BulkLoadStore)

    async def scenario() -> None:
        read_done = asyncio.Event()

        async def read() -> None:
            await read_done.wait()

        store._loading = asyncio.ensure_future(read())  # a read in progress
        store.apply_changelog_batch(
            [_event(b"a", b"new"), _event(b"gone", None)], lambda k: k, lambda v: v
        )
        # The bulk read then reaches older records of the same keys.
        store._apply(0, [(b"a", b"old"), (b"gone", b"old"), (b"b", b"b1")])
        read_done.set()
        await store.on_recovery_completed({TP("t", 0)}, set())

    asyncio.run(scenario())
    assert dict(store.data) == {b"a": b"new", b"b": b"b1"}
    assert store._loading is None
    assert not store._newer


def test_persisted_offset_only_for_partitions_read_in_this_rebalance() -> None:
    store = _store()
    assert store.persisted_offset(TP("t", 0)) is None  # faust's own start (memory store)
    store._persisted[TP("t", 0)] = 41
    assert store.persisted_offset(TP("t", 0)) == 41
