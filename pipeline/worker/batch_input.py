"""Observations and commands reach the worker a fetch at a time, not an event at a time.

faust turns every fetched record into a ``Message`` and an ``Event``, waits on a task per
record to hand it to its stream, and acknowledges it one by one: about 90 µs per
observation on this machine, more than the worker's own processing (docs/benchmarks.md,
"Round 5"). For the topics named in :class:`BatchInput` the consumer's drain loop instead
hands each fetch — the records grouped by the task that processes them — to the tasks'
queues (:class:`~pipeline.worker.task_queues.TaskQueues`), whose runs process them and commit
their offsets themselves (in the transaction of their outputs, or after their outputs are
acknowledged under at-least-once), while the consumer fetches on. faust still subscribes the
topics (an agent names them), assigns their partitions, co-partitions and recovers the
tables, and rebalances the group: a rebalance waits until no run is in flight or queued
(:meth:`BatchDrain.wait_empty`), and records fetched before it are dropped as faust drops
them, to be fetched again from the committed offsets by their new owner.

Every other topic (the ledger, the tables' changelogs) goes through faust's own path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from aiokafka.structs import TopicPartition

from pipeline.worker.task_queues import TaskQueues


class InputRecord(NamedTuple):
    """One fetched record of a batch topic, as the worker's processor needs it."""

    topic: str
    partition: int
    offset: int
    value: bytes | None


#: Records of one fetch by the task that processes them, each partition's in offset order.
Batch = dict[str, list[InputRecord]]
#: The task that processes a record of (topic, partition).
TaskOf = Callable[[str, int], str]


@dataclass
class BatchInput:
    """Which topics bypass faust's per-event path, and the queues their fetches go to."""

    topics: frozenset[str]
    task_of: TaskOf
    queues: TaskQueues[InputRecord]


def split_fetch(
    records: Mapping[Any, Sequence[Any]],
    topics: frozenset[str],
    task_of: TaskOf,
    *,
    accept: Callable[[Any], bool],
    read_from: Callable[[Any], int | None],
) -> tuple[Batch, list[tuple[Any, list[Any]]]]:
    """A fetch (records by topic-partition) split into the batch of ``topics``, by the task
    ``task_of(topic, partition)`` that processes them, and the rest.

    ``accept(tp)``: whether records of ``tp`` may be processed now (its partition is still
    active); ``read_from(tp)``: the lowest offset not yet read, or None (faust's read
    offset: an older record came again after a seek and is dropped, as faust drops it).

    >>> class R(NamedTuple):
    ...     offset: int
    ...     value: bytes
    >>> class TP(NamedTuple):
    ...     topic: str
    ...     partition: int
    >>> fetch = {TP("obs", 1): [R(4, b"a"), R(5, b"b")], TP("ledger", 0): [R(9, b"l")]}
    >>> batch, rest = split_fetch(fetch, frozenset({"obs"}), lambda topic, p: f"task-{p}",
    ...                           accept=lambda tp: True, read_from=lambda tp: 5)
    >>> batch
    {'task-1': [InputRecord(topic='obs', partition=1, offset=5, value=b'b')]}
    >>> [(tp.topic, [r.offset for r in rs]) for tp, rs in rest]
    [('ledger', [9])]
    """
    batch: Batch = {}
    rest: list[tuple[Any, list[Any]]] = []
    for tp, tp_records in records.items():
        if not accept(tp):
            continue
        start = read_from(tp)
        kept = [r for r in tp_records if start is None or r.offset >= start]
        if not kept:
            continue
        if tp.topic in topics:
            topic, partition = tp.topic, tp.partition
            batch.setdefault(task_of(topic, partition), []).extend(
                InputRecord(topic, partition, r.offset, r.value) for r in kept
            )
        else:
            rest.append((tp, kept))
    return batch, rest


def next_offsets(records: Sequence[InputRecord]) -> dict[TopicPartition, int]:
    """The offset after the last of ``records`` (each partition's in offset order), per
    topic-partition: what a unit that processes them commits.

    >>> next_offsets([InputRecord("obs", 1, 4, None), InputRecord("cmd", 1, 9, None),
    ...               InputRecord("obs", 1, 5, None)])
    {TopicPartition(topic='obs', partition=1): 6, TopicPartition(topic='cmd', partition=1): 10}
    """
    last = {(record.topic, record.partition): record.offset for record in records}
    return {
        TopicPartition(topic, partition): offset + 1 for (topic, partition), offset in last.items()
    }


def chunks(records: Sequence[InputRecord], size: int) -> Iterable[Sequence[InputRecord]]:
    """``records`` in consecutive pieces of at most ``size`` (at least 1).

    >>> [len(c) for c in chunks([InputRecord("t", 0, n, None) for n in range(5)], 2)]
    [2, 2, 1]
    """
    size = max(1, size)
    for start in range(0, len(records), size):
        yield records[start : start + size]
