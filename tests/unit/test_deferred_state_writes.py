"""Deferred state writes: what waits, what it holds back, and that a crash loses or repeats nothing.

The worker defers the state of a service whose observation produced no output, and its units
commit no input offset past the oldest such change (pipeline.worker.state_writes). These tests
run the worker's unit steps over plain dicts: a "crash" keeps only what the last committed
unit wrote (the table) and its committed offsets, and a new worker reads on from there.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import orjson
import pytest
from aiokafka.structs import TopicPartition
from prometheus_client import CollectorRegistry

from pipeline.bench.data import ObservationMix
from pipeline.config.settings import Settings
from pipeline.core.timeutil import format_rfc3339
from pipeline.metrics.worker import WorkerMetrics
from pipeline.monitoring.status import Outcome
from pipeline.worker.batch_input import InputRecord, next_offsets
from pipeline.worker.deferred_writes import DeferredWrites
from pipeline.worker.live_states import LiveStates
from pipeline.worker.processor import Outputs
from pipeline.worker.state_writes import StateWrites
from pipeline.worker.wiring import build_processor
from tests.support.observations import wire

START = 1_700_000_000.0
SPAN = 600.0
OBS = "obs"
TP = TopicPartition(OBS, 0)


class _Unit:
    """The offsets part of a delivery unit."""

    def __init__(self, offsets: dict[TopicPartition, int]) -> None:
        self.offsets = dict(offsets)

    def consumed(self, topic: str, partition: int, offset: int) -> None:
        tp = TopicPartition(topic, partition)
        self.offsets[tp] = max(self.offsets.get(tp, 0), offset + 1)


class _Worker:
    """One worker's processor, live states and write schedule over ``store`` (its table)."""

    def __init__(self, store: dict[str, Any], clock: Callable[[], float], *, after: float) -> None:
        settings = replace(Settings(), default_interval=30.0)
        self.clock = clock
        self.processor = build_processor(
            settings, WorkerMetrics(CollectorRegistry()), clock=clock, defer_writes=after > 0
        )
        self.live = LiveStates(store, self.processor.monitoring)
        self.writes = StateWrites(self.live, observations=OBS, write_after=after, quiet_after=0.1)
        self.outcomes: Counter[str] = Counter()

    def unit(self, chunk: Sequence[InputRecord]) -> tuple[Outputs, dict[TopicPartition, int]]:
        """What app.process_task does for one unit (the transaction commits at its end)."""
        ends = next_offsets(chunk)
        unit = _Unit(self.writes.commit_offsets(chunk, ends))
        out = self.processor.handle_batch(
            ((r.value, r.topic, r.partition, r.offset) for r in chunk), self.live
        )
        self.writes.processed(ends)
        self.writes.write_due(unit, 0, dead_letters=bool(out.deadletter), now=self.clock())
        self.processor.flush(self.live)
        self.writes.committed(unit.offsets)
        return out, unit.offsets

    def quiet(self) -> tuple[Outputs, dict[TopicPartition, int]]:
        """What app.write_deferred does when the partition goes quiet."""
        unit = _Unit({})
        self.writes.write_all(unit, 0)
        self.processor.flush(self.live)
        self.writes.committed(unit.offsets)
        return Outputs(), unit.offsets


def _obs(offset: int, service: str, event: str, *, at: float = START, **fields: Any) -> InputRecord:
    """A heartbeat (or, with ``status``, an operator's status report) at ``offset``."""
    kind = "status_report" if "status" in fields else "heartbeat"
    fields.setdefault("status", None)
    value = wire(
        service_id=service, event_id=event, kind=kind, observed_at=format_rfc3339(at), **fields
    )
    return InputRecord(OBS, 0, offset, value)


def _records(count: int = 1_200) -> list[InputRecord]:
    """A mix with first sightings, status changes, incidents, duplicates and refusals, on
    partition 0 at consecutive offsets."""
    payloads = ObservationMix(8, seed=5).payloads(count, run="d", start=START, span=SPAN)
    values: list[bytes | None] = [value for _key, value in payloads]
    values[300:300] = [b"not json", values[100], values[101]]  # a refusal and two resends
    values[700:700] = [None, values[650]]
    return [InputRecord(OBS, 0, offset, value) for offset, value in enumerate(values)]


def _normalised(out: Outputs) -> list[tuple[str, bytes]]:
    """The records of ``out``, without the processing times (a replay runs later)."""
    found: list[tuple[str, bytes]] = []
    for topic in ("status", "incidents", "anomalies", "ledger", "deadletter"):
        for _key, value in getattr(out, topic):
            record = orjson.loads(value)
            record.pop("rejected_at", None)
            incident = record.get("incident")
            if isinstance(incident, dict):
                detected = incident.pop("detected_at", None)
                if record.get("at") == detected:  # a detection happens when it is processed
                    record.pop("at")
            found.append((topic, orjson.dumps(record, option=orjson.OPT_SORT_KEYS)))
    return found


def _run(
    records: list[InputRecord], *, size: int, after: float, crash_after: int | None = None
) -> tuple[Counter[tuple[str, bytes]], _Worker]:
    """Every output produced while working through ``records`` in units of ``size``; with
    ``crash_after``, the worker dies after that many committed units and a new one starts
    from the table and offsets they committed."""
    now = [START + SPAN]  # every observation has happened (none is in the future)

    def clock() -> float:
        return now[0]

    store: dict[str, Any] = {}
    worker = _Worker(store, clock, after=after)
    produced: Counter[tuple[str, bytes]] = Counter()
    position, units = 0, 0
    while position < len(records):
        chunk = records[position : position + size]
        out, committed = worker.unit(chunk)
        produced.update(_normalised(out))
        units += 1
        now[0] += 0.7
        if crash_after is not None and units == crash_after:
            # Only what committed survives: the table and the offsets of that unit.
            position = committed[TP]
            worker = _Worker(dict(store), clock, after=after)
            crash_after = None
            continue
        position += len(chunk)
    out, _committed = worker.quiet()
    produced.update(_normalised(out))
    return produced, worker


@pytest.mark.parametrize("crash_after", [1, 2, 3, 5, 8, 13, 21])
def test_a_crash_loses_and_repeats_nothing(crash_after: int) -> None:
    records = _records()
    expected, _worker = _run(records, size=50, after=2.0)
    assert sum(1 for topic, _ in expected if topic == "status") > 10  # the mix flips status
    assert any(topic == "incidents" for topic, _ in expected)
    assert any(topic == "deadletter" for topic, _ in expected)
    produced, _worker = _run(records, size=50, after=2.0, crash_after=crash_after)
    assert produced == expected


def test_a_crash_replays_what_was_committed_but_not_written() -> None:
    # Written states hold the offset they applied: records read again up to it are skipped.
    records = _records()
    _produced, worker = _run(records, size=50, after=5.0, crash_after=6)
    replayed = sum(
        sample.value
        for metric in worker.processor.metrics.registry.collect()
        for sample in metric.samples
        if sample.name == "continuity_observations_total"
        and sample.labels.get("outcome") == Outcome.REPLAYED
    )
    assert replayed > 0


def test_deferring_writes_gives_what_writing_every_change_gives() -> None:
    records = _records()
    deferred, _ = _run(records, size=50, after=2.0)
    written, _ = _run(records, size=50, after=0.0)
    assert deferred == written


def test_routine_observations_wait_and_hold_their_offset_back() -> None:
    store: dict[str, Any] = {}
    worker = _Worker(store, lambda: START, after=2.0)
    first = [_obs(0, "svc", "e0", at=START)]
    worker.unit(first)
    stored = store["svc"]  # a first sighting is written (the ledger records it)
    again = [_obs(1, "svc", "e1", at=START + 1)]
    _out, committed = worker.unit(again)
    assert store["svc"] == stored  # nothing to see: the change waits
    assert worker.live.held_back(0) == 1
    assert committed[TP] == 1  # not past it
    assert worker.live.get("svc") is not None
    assert worker.live.get("svc").applied_through == 1  # type: ignore[union-attr]
    _out, committed = worker.quiet()
    assert orjson.loads(store["svc"])["applied_through"] == 1
    assert worker.live.held_back(0) is None
    assert committed[TP] == 2


def test_a_status_change_is_written_with_its_output() -> None:
    store: dict[str, Any] = {}
    worker = _Worker(store, lambda: START, after=2.0)
    worker.unit([_obs(0, "svc", "e0", status="up")])
    worker.unit([_obs(1, "svc", "e1")])
    assert worker.live.held_back(0) == 1
    out, _ = worker.unit([_obs(2, "svc", "e2", status="down")])
    assert [orjson.loads(v)["status"] for _k, v in out.status] == ["down"]
    assert orjson.loads(store["svc"])["applied_through"] == 2
    assert worker.live.held_back(0) is None  # the earlier change went with it


def test_a_dead_letter_commits_its_unit_to_the_end() -> None:
    store: dict[str, Any] = {}
    worker = _Worker(store, lambda: START, after=2.0)
    worker.unit([_obs(0, "svc", "e0")])
    out, committed = worker.unit(
        [
            _obs(1, "svc", "e1"),
            InputRecord(OBS, 0, 2, b"not json"),
        ]
    )
    assert len(out.deadletter) == 1
    assert committed[TP] == 3  # never read, nor dead-lettered, again
    assert worker.live.held_back(0) is None


def test_states_wait_no_longer_than_the_write_interval() -> None:
    now = [START]
    store: dict[str, Any] = {}
    worker = _Worker(store, lambda: now[0], after=2.0)
    worker.unit([_obs(0, "a", "a0")])
    worker.unit([_obs(1, "a", "a1")])
    now[0] += 1.0
    worker.unit([_obs(2, "a", "a2")])
    assert worker.live.held_back(0) == 1  # deferred 1 s ago: still waits
    now[0] += 1.5
    worker.unit([_obs(3, "b", "b0")])
    assert orjson.loads(store["a"])["applied_through"] == 2  # waited 2.5 s: written


def test_a_replayed_record_is_skipped() -> None:
    store: dict[str, Any] = {}
    worker = _Worker(store, lambda: START, after=0.0)
    record = _obs(0, "svc", "e0", status="down")
    out, _ = worker.unit([record])
    assert len(out.status) == 1
    again = _Worker(dict(store), lambda: START + 5, after=0.0)
    out, _ = again.unit([record])  # read again after a restart
    assert (out.status, out.incidents, out.ledger) == ([], [], [])


def test_live_states_defer_and_drop() -> None:
    store: dict[str, Any] = {}
    worker = _Worker(store, lambda: START, after=2.0)
    worker.unit([_obs(0, "svc", "e0")])
    worker.unit([_obs(1, "svc", "e1")])
    assert worker.live.held_back(0) == 1
    assert worker.live.drop_deferred({0}) == 1
    # The stored state is what is read now (the partition is read again from offset 1).
    assert worker.live.get("svc").applied_through == 0  # type: ignore[union-attr]
    assert worker.live.held_back(0) is None


def test_deferred_writes_keep_partitions_apart() -> None:
    writes: DeferredWrites[str] = DeferredWrites()
    writes.defer("a", "A", partition=0, offset=5, at=1.0)
    writes.defer("b", "B", partition=1, offset=9, at=0.5)
    assert writes.take_due(0, waited_since=0.9) == []
    assert writes.take_due(1, waited_since=0.9) == [("b", "B")]
    assert writes.held_back(1) is None
    assert writes.held_back(0) == 5
    assert writes.drop([0, 1]) == ["a"]
    assert len(writes) == 0


def test_the_quiet_unit_is_due_only_when_needed() -> None:
    store: dict[str, Any] = {}
    worker = _Worker(store, lambda: START, after=2.0)
    writes = worker.writes
    assert not writes.due(0, busy=False, quiet_for=10.0, now=START)  # nothing processed
    worker.unit([_obs(0, "svc", "e0")])
    # The unit committed its first offset only (its own deferrals were not known yet).
    assert writes.due(0, busy=False, quiet_for=0.2, now=START)
    assert not writes.due(0, busy=True, quiet_for=0.2, now=START)
    assert not writes.due(0, busy=False, quiet_for=0.05, now=START)
    worker.quiet()
    assert not writes.due(0, busy=False, quiet_for=10.0, now=START)
    worker.unit([_obs(1, "svc", "e1")])
    assert writes.due(0, busy=False, quiet_for=0.0, now=START + 2.5)  # waited too long
    writes.forget([0])
    worker.live.drop_deferred([0])
    assert not writes.due(0, busy=False, quiet_for=10.0, now=START + 2.5)


def test_pending_is_what_a_clean_stop_or_a_revocation_settles() -> None:
    store: dict[str, Any] = {}
    worker = _Worker(store, lambda: START, after=2.0)
    assert not worker.writes.pending(0)
    worker.unit([_obs(0, "svc", "e0")])  # a first sighting: written, offset 0 committed
    assert worker.writes.pending(0)  # processed through 1, committed 0
    worker.quiet()
    assert not worker.writes.pending(0)
    worker.unit([_obs(1, "svc", "e1")])
    worker.quiet()
    assert not worker.writes.pending(0)
    assert orjson.loads(store["svc"])["applied_through"] == 1
    off = _Worker({}, lambda: START, after=0.0)
    off.unit([_obs(0, "svc", "e0")])
    assert not off.writes.pending(0)  # nothing waits when states are written at once
