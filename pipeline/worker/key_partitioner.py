"""Kafka's default partitioner, with the hash of recently seen keys remembered.

The worker picks a partition for every keyed record it produces (state changelogs, status,
incidents, indicator rows), and aiokafka's default partitioner computes Kafka's murmur2 in
pure Python, ≈ 5 µs a key: on the live mix it was 12.8 % of the worker's samples, most of it
the ≈ 4 000 indicator rows of every roll-up, whose keys are the same each time
(docs/benchmarks.md, "Round 6"). :class:`RememberingPartitioner` gives exactly the default
partitioner's answer and keeps the masked hash of up to ``capacity`` keys; when full it
starts afresh, so memory stays bounded and a key set larger than the capacity costs one
dictionary miss per key more than before, nothing else.

>>> from aiokafka.partitioner import DefaultPartitioner
>>> partitioner = RememberingPartitioner(capacity=2)
>>> keys = [b"energy.svc.0000001", b"telecom.svc.0000042", b"", b"energy.svc.0000001"]
>>> [partitioner(k, list(range(12)), []) for k in keys] == [
...     DefaultPartitioner()(k, list(range(12)), []) for k in keys]
True
>>> partitioner.remembered() <= 2
True
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from aiokafka.partitioner import murmur2

#: Keys whose hash is kept (about 10 MB of keys and hashes at service-id lengths).
DEFAULT_CAPACITY = 65_536


class RememberingPartitioner:
    """A callable ``(key, all_partitions, available) -> partition`` for aiokafka/faust."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._capacity = max(1, capacity)
        self._hashes: dict[bytes, int] = {}

    def __call__(
        self, key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]
    ) -> int:
        if key is None:  # as Kafka's default: any available partition
            return random.choice(available or all_partitions)
        if len(all_partitions) == 1:
            return all_partitions[0]
        hashed = self._hashes.get(key)
        if hashed is None:
            if len(self._hashes) >= self._capacity:
                self._hashes.clear()
            hashed = self._hashes[key] = murmur2(key) & 0x7FFFFFFF
        return all_partitions[hashed % len(all_partitions)]

    def remembered(self) -> int:
        """How many keys' hashes are kept now."""
        return len(self._hashes)
