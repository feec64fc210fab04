"""A worker killed with SIGKILL in the middle of a batch: read committed, the outputs hold every
status change and incident event exactly once (issues 13 and 17).

The kill is aimed at a large batch whose outputs are reaching the broker. Under
``CW_PROCESSING_GUARANTEE=at_least_once`` that batch's state records are then all on the
changelog (they are sent first) while part of its status changes are not, so the successor
finds those observations applied and never emits their changes: the test fails with changes
lost. Under exactly_once the state, the outputs and the offsets are in one transaction that
the successor aborts, and it processes the batch again.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from pipeline.config.settings import Settings
from pipeline.core.schema import Kind, Status
from pipeline.ops.service_lookup import key_partition
from tests.support.observations import make_obs
from tests.support.stack import WorkerProcess, eventually, produce, read_to_end

pytestmark = pytest.mark.integration

SERVICES = 600
ROUNDS = 2  # down, then up: two status changes and two incident events per service
#: The broker's minimum session timeout, so the successor takes over soon after the kill, and
#: the default indicator cadence (the suite's 1 s rolls the services up all the time). Units
#: of 100 observations: the input takes a dozen transactions in turn, so the kill lands
#: with most of them still to come (with units of thousands the whole input was one
#: transaction of a few milliseconds, which a faster worker committed before the kill).
WORKER: dict[str, Any] = {"session_timeout": 6.0, "indicator_interval": 15.0, "batch_max": 100}


def services_on_partition_0(settings: Settings, count: int) -> list[str]:
    """Service ids whose observations all land on partition 0: one large batch, one task."""
    names = (f"{settings.app_id}.svc-{i}" for i in range(count * settings.partitions * 4))
    chosen = [n for n in names if key_partition(n.encode(), settings.partitions) == 0]
    return chosen[:count]


def records_on(settings: Settings, topic: str, *, committed: bool = False) -> int:
    """Offsets in ``topic`` as a read-uncommitted reader sees them (open transactions too),
    or with ``committed`` up to the first one a read-committed reader still waits for."""
    isolation = "read_committed" if committed else "read_uncommitted"
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, isolation_level=isolation)
    try:
        tps = [TopicPartition(topic, p) for p in range(settings.partitions)]
        return sum(consumer.end_offsets(tps).values())
    finally:
        consumer.close()


def start_and_kill_mid_stream(settings: Settings, worker: WorkerProcess, at: int) -> None:
    """Start ``worker`` and SIGKILL it as soon as ``at`` status records reached the broker
    (seen read-uncommitted: a transaction writing them is still open), inside a large batch."""
    starting = threading.Thread(target=lambda: with_errors(worker.start), daemon=True)
    starting.start()
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    tps = [TopicPartition(settings.topics.status, p) for p in range(settings.partitions)]
    try:
        deadline = time.monotonic() + 90
        while sum(consumer.end_offsets(tps).values()) < at:
            assert time.monotonic() < deadline, f"no output in 90 s; log: {worker.log_path}"
        assert worker.proc is not None
        worker.proc.kill()
        worker.proc.wait()
    finally:
        consumer.close()
        starting.join(timeout=10)


def with_errors(action: Callable[[], object]) -> None:
    try:
        action()
    except AssertionError:  # "worker exited": it was killed before its log said ready
        return


def test_a_worker_killed_mid_batch_emits_every_change_exactly_once(
    settings: Settings, start_worker: Callable[..., WorkerProcess]
) -> None:
    services = services_on_partition_0(settings, SERVICES)
    now = time.time()
    produce(
        settings,
        [
            (
                sid.encode(),
                make_obs(
                    sid,
                    at=now - 100 + r,
                    kind=Kind.STATUS_REPORT,
                    status=Status.DOWN if r % 2 == 0 else Status.UP,
                    event_id=f"{sid}-{r}",
                    attrs={"expected_interval_s": 3600},
                ).to_json(),
            )
            for r in range(ROUNDS)
            for sid in services
        ],
    )
    # The whole input is waiting, so the first worker works through it in units of 100.
    first = WorkerProcess(
        replace(settings, **WORKER),
        Path(settings.data_dir) / "killed-worker.log",
        f"{settings.app_id}-killed",
    )
    try:
        start_and_kill_mid_stream(settings, first, at=SERVICES // 2)
    finally:
        first.stop()
    # The batch's transaction is left open by the kill (its outputs may all be written).
    assert records_on(settings, settings.topics.status, committed=True) < SERVICES * ROUNDS, (
        "the kill came after the whole input was committed; nothing was left to replay"
    )

    start_worker(**WORKER)
    expected = SERVICES * ROUNDS

    def all_changes() -> bool:
        records = read_to_end(settings, settings.topics.status)
        return len({(r["service_id"], r["at"], r["status"]) for r in records}) == expected

    with contextlib.suppress(AssertionError):  # what is missing is counted below
        eventually(all_changes, timeout=150, what=f"{expected} status changes")
    time.sleep(2.0)  # a duplicate emitted after the last new change would be there by now
    changes = read_to_end(settings, settings.topics.status)
    counted = Counter((r["service_id"], r["at"], r["status"]) for r in changes)
    duplicated = sum(n - 1 for n in counted.values())
    lost = expected - len(counted)
    assert (lost, duplicated) == (0, 0), (
        f"status changes: {lost} lost, {duplicated} duplicated; "
        f"{records_on(settings, settings.topics.status)} records read-uncommitted"
    )

    events = read_to_end(settings, settings.topics.incidents)
    by_event = Counter((e["incident"]["incident_id"], e["event"], e["at"]) for e in events)
    assert sum(n - 1 for n in by_event.values()) == 0, "incident events emitted twice"
    kinds = Counter(e["event"] for e in events)
    assert (kinds["detected"], kinds["restored"]) == (SERVICES, SERVICES), kinds
