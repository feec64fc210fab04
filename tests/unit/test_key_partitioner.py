"""RememberingPartitioner: Kafka's default partitioner's answers, with bounded memory."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner

from pipeline.worker.key_partitioner import RememberingPartitioner


def test_it_answers_as_the_default_partitioner_for_every_key_and_partition_count() -> None:
    default = DefaultPartitioner()
    remembering = RememberingPartitioner(capacity=100)
    keys = [f"energy.svc.{i:07d}".encode() for i in range(300)] + [b"", "é ü".encode()]
    for count in (1, 2, 3, 12, 48):
        partitions = list(range(count))
        for key in keys + keys:  # again: from memory, after the memory started afresh
            assert remembering(key, partitions, partitions) == default(key, partitions, partitions)
    assert 0 < remembering.remembered() <= 100


def test_a_record_without_key_goes_to_an_available_partition() -> None:
    remembering = RememberingPartitioner()
    assert {remembering(None, [0, 1, 2], [2]) for _ in range(20)} == {2}
    assert remembering(None, [0, 1, 2], []) in {0, 1, 2}
