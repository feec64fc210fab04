"""Live per-service monitors in front of the changelog-backed table, and when each is due.

The table holds every service's :class:`~pipeline.monitoring.monitor.ServiceMonitor` as JSON bytes
(the durable copy: one changelog record per write). Decoding and re-encoding that whole
state for every observation was the largest avoidable cost of the worker
(docs/benchmarks.md), so :class:`LiveStates` keeps:

* the decoded monitors of recently used services (a bounded LRU, so memory per service
  stays the size of its bytes), checked against the stored bytes so a recovered or
  rebalanced table is never shadowed by a stale live copy;
* the services changed since the last :meth:`LiveStates.flush`, written once each per
  batch however many observations the batch held for them;
* the services changed without any output, whose writes wait
  (:class:`~pipeline.worker.deferred_writes.DeferredWrites`, :meth:`LiveStates.defer`);
* a heap of check deadlines (silence, open maintenance windows), so the once-a-second
  check touches the services that are due instead of scanning every one. The heap is
  rebuilt from the table when the owned partitions or the table size change behind its
  back (recovery, rebalance).

>>> from pipeline.monitoring.monitor import Monitoring, MonitorParams
>>> from pipeline.core.schema import Kind, Observation
>>> monitoring = Monitoring(MonitorParams())
>>> table: dict[str, bytes] = {}
>>> live = LiveStates(table, monitoring)
>>> obs = Observation(event_id="e1", operator_id="op", service_id="svc", sector="energy",
...                   region="UA", kind=Kind.HEARTBEAT, observed_at=1000.0, source="t")
>>> monitor, _result = monitoring.observe(live.get("svc"), obs, partition=0, now=1000.0)
>>> live.put("svc", monitor)
>>> [key for key, _monitor in live.flush()], sorted(table)
(['svc'], ['svc'])
>>> live.due(1000.0 + 60.0, owned={0}), live.due(1000.0 + 120.0, owned={0})
([], ['svc'])
"""

from __future__ import annotations

import heapq
import math
from collections import OrderedDict
from collections.abc import Collection, Iterator, MutableMapping
from dataclasses import dataclass, field
from sys import intern
from typing import Any

import msgspec
import orjson

from pipeline.config.settings import DEFAULT_LIVE_STATES
from pipeline.monitoring.monitor import Monitoring, ServiceMonitor, upgrade_stored
from pipeline.worker.deferred_writes import DeferredWrites


class RecoveredStates:
    """Services a rebuild found, each with its stored value; iterating gives ``(key, summary)``
    with the summary (see :func:`_decode_summary`) decoded as it is read.

    Holding the decoded summaries of a million restored services until the status export
    took them left ≈ 1.1 KB per service of memory that was freed but never returned
    (their small objects were interleaved with the deadlines' long-lived ones):
    docs/benchmarks.md, "Round 5: state per service".
    """

    __slots__ = ("_keys", "_values")

    def __init__(self) -> None:
        self._keys: list[str] = []
        self._values: list[Any] = []

    def add(self, key: str, stored: Any) -> None:
        self._keys.append(key)
        self._values.append(stored)

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for key, stored in zip(self._keys, self._values, strict=True):
            data = _decode_summary(stored)
            if data["state"].get("service_id") == key:
                data["state"]["service_id"] = key  # one string per service, not two
            yield key, data


@dataclass(slots=True)
class Membership:
    """Services a rebuild of the deadlines found in, or no longer found in, the owned
    partitions, and stored states it could not read."""

    recovered: RecoveredStates = field(default_factory=RecoveredStates)
    dropped: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)


class LiveStates:
    """Decoded monitors, pending writes and check deadlines over a ``str → bytes`` store."""

    def __init__(
        self,
        store: MutableMapping[str, Any],
        monitoring: Monitoring,
        *,
        capacity: int = DEFAULT_LIVE_STATES,
    ) -> None:
        self.store = store
        self.monitoring = monitoring
        self.capacity = capacity
        self._live: OrderedDict[str, tuple[Any, ServiceMonitor]] = OrderedDict()
        self._changed: dict[str, ServiceMonitor] = {}
        self._deferred: DeferredWrites[ServiceMonitor] = DeferredWrites()
        # key -> deadline of its (earliest) heap entry, math.inf if it has none: the owned,
        # tracked services. Later entries for the same key are stale and skipped on pop.
        self._scheduled: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []
        self._owned: frozenset[int] | None = None
        self._expected_size = 0
        self._membership = Membership()

    def get(self, key: str) -> ServiceMonitor | None:
        """The service's monitor (live, or decoded from the store), or None if unknown."""
        changed = self._changed.get(key)
        if changed is not None:
            return changed
        deferred = self._deferred.get(key)
        if deferred is not None:
            return deferred
        stored = self.store.get(key)
        if stored is None:
            self._live.pop(key, None)
            return None
        entry = self._live.get(key)
        if entry is not None and entry[0] == stored:
            self._live.move_to_end(key)
            return entry[1]
        monitor = ServiceMonitor.from_dict(_decode(stored), self.monitoring.params)
        self._remember(key, stored, monitor)
        return monitor

    def put(self, key: str, monitor: ServiceMonitor) -> None:
        """Mark the monitor changed; it is written to the store by the next :meth:`flush`."""
        self._changed[key] = monitor
        if self._deferred:
            self._deferred.remove(key)  # its deferred changes go with this write

    def defer(
        self, key: str, monitor: ServiceMonitor, *, partition: int, offset: int, at: float
    ) -> None:
        """Mark the monitor changed by the observation at ``offset`` of ``partition``
        without any output: it is written by a :meth:`flush` after :meth:`write_deferred`
        takes it (or after a :meth:`put`), and until then holds that offset back."""
        if key in self._changed:  # written in this unit anyway
            self._changed[key] = monitor
            return
        self._deferred.defer(key, monitor, partition=partition, offset=offset, at=at)

    def write_deferred(self, partition: int, *, waited_since: float | None = None) -> int:
        """Have the next :meth:`flush` write the partition's deferred states that were
        deferred at or before ``waited_since`` (every one if None); returns how many."""
        taken = self._deferred.take_due(partition, waited_since=waited_since)
        for key, monitor in taken:
            self._changed[key] = monitor
        return len(taken)

    def held_back(self, partition: int) -> int | None:
        """The partition's oldest input offset whose effect is not written yet (None: all
        are): its committed offset must not pass it."""
        return self._deferred.held_back(partition)

    def deferred_since(self, partition: int) -> float | None:
        """When the partition's oldest unwritten change was deferred (None: none is)."""
        return self._deferred.oldest(partition)

    def drop_deferred(self, partitions: Collection[int]) -> int:
        """Forget the deferred states of ``partitions`` (given to another worker, or to be
        read again from their committed offsets, which they held back); returns how many."""
        dropped = self._deferred.drop(partitions)
        for key in dropped:
            # Its decoded copy was changed in place: the stored one is the state now.
            self._live.pop(key, None)
        return len(dropped)

    def discard(self, key: str) -> None:
        """Forget the live copy (e.g. after an error mid-update): the next :meth:`get`
        decodes the stored one, losing changes not flushed yet."""
        self._changed.pop(key, None)
        self._deferred.remove(key)
        self._live.pop(key, None)

    def flush(self) -> list[tuple[str, ServiceMonitor]]:
        """Write every changed monitor once; returns what was written."""
        written = list(self._changed.items())
        self._changed.clear()
        for key, monitor in written:
            # A right-sized copy: orjson's output keeps its ~8 KiB working buffer's memory
            # (measured: 8.2 KB of RSS per retained 650-byte value, 0.7 KB copied).
            data = bytes(memoryview(orjson.dumps(monitor.to_dict())))
            if key not in self._scheduled:
                self._expected_size += 1
                self._scheduled[key] = math.inf
            self.store[key] = data
            self._remember(key, data, monitor)
            self.reschedule(key, monitor)
        return written

    def reschedule(self, key: str, monitor: ServiceMonitor) -> None:
        """Put the service's next check deadline on the heap (after a check or a write)."""
        self._schedule(key, self.monitoring.check_deadline(monitor))

    def due(self, now: float, owned: Collection[int]) -> list[str]:
        """Owned services whose check deadline has passed, each once. The caller checks
        them and calls :meth:`reschedule` (or :meth:`put`) for each."""
        self._sync(frozenset(owned))
        due: list[str] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline, key = heapq.heappop(heap)
            if self._scheduled.get(key) != deadline:
                continue  # superseded by an earlier entry, or no longer owned
            self._scheduled[key] = math.inf
            try:
                monitor = self.get(key)
            except (KeyError, TypeError, ValueError):
                self._membership.unreadable.append(key)
                continue
            if monitor is None:
                continue
            current = self.monitoring.check_deadline(monitor)
            if current is not None and current <= now:
                due.append(key)
            else:
                self._schedule(key, current)
        return due

    def may_be_due(self, now: float, owned: Collection[int]) -> bool:
        """Whether :meth:`due` could find a service to check, or must rebuild first: a cheap
        look, so that a clock tick with nothing due does not hold every partition back.

        >>> from pipeline.monitoring.monitor import MonitorParams, Monitoring
        >>> LiveStates({}, Monitoring(MonitorParams())).may_be_due(0.0, {0})  # first: rebuild
        True
        """
        if frozenset(owned) != self._owned or len(self.store) != self._expected_size:
            return True
        return bool(self._heap) and self._heap[0][0] <= now

    @property
    def tracked(self) -> int:
        """Services of the owned partitions (as of the last :meth:`due`)."""
        return len(self._scheduled)

    def take_membership_changes(self) -> Membership:
        """What the rebuilds since the previous call found: for exporting, dropping or
        reporting services whose state nobody wrote through this object."""
        membership = self._membership
        self._membership = Membership()
        return membership

    def _remember(self, key: str, stored: Any, monitor: ServiceMonitor) -> None:
        self._live[key] = (stored, monitor)
        self._live.move_to_end(key)
        while len(self._live) > self.capacity:
            self._live.popitem(last=False)

    def _schedule(self, key: str, deadline: float | None) -> None:
        if deadline is None:
            self._scheduled.setdefault(key, math.inf)
        elif deadline < self._scheduled.get(key, math.inf):
            self._scheduled[key] = deadline
            heapq.heappush(self._heap, (deadline, key))

    def _sync(self, owned: frozenset[int]) -> None:
        """Rebuild the deadlines from the store when it changed behind our back."""
        if owned == self._owned and len(self.store) == self._expected_size:
            return
        previous = self._scheduled
        self._owned = owned
        self._scheduled = {}
        self._heap = []
        store = self.store
        # Keys first, then one value at a time: no million (key, value) pairs held at once.
        for key in list(store):
            stored = store.get(key)
            if stored is None:
                continue
            try:
                data = _decode_summary(stored)
                partition = int(data["state"]["partition"])
                deadline = self.monitoring.stored_check_deadline(data)
            except (KeyError, TypeError, ValueError):
                self._membership.unreadable.append(key)
                continue
            if partition not in owned:
                self._live.pop(key, None)
                continue
            if key not in previous:
                self._membership.recovered.add(key, stored)
            self._schedule(key, deadline)
        self._membership.dropped.extend(key for key in previous if key not in self._scheduled)
        self._expected_size = len(self.store)


class _StoredState(msgspec.Struct):
    """The fields of a stored ``ServiceState`` a rebuild needs (the rest are skipped)."""

    service_id: str
    operator_id: str
    sector: str
    region: str
    status: str
    last_evidence_at: float
    expected_interval: float
    partition: int
    last_alive_at: float | None = None
    delivery_lag: float | None = None


class _StoredIncidents(msgspec.Struct):
    maintenance_open: Any = None


class _StoredSummary(msgspec.Struct):
    state: _StoredState
    incidents: _StoredIncidents


_SUMMARY = msgspec.json.Decoder(_StoredSummary)


def _decode_summary(stored: Any) -> dict[str, Any]:
    """What a rebuild of the deadlines reads of a stored monitor: the status, liveness and
    identity fields of its state and whether a maintenance window holds an outage, as a
    dict shaped like ``ServiceMonitor.to_dict`` (enough for ``stored_check_deadline`` and
    the status export). Decoding only these skips the rest of the record: about ten times faster
    than the whole JSON, and nothing of the rest is kept (measured: docs/benchmarks.md,
    "Round 4: recovery"). Other layouts (older records, dict values) take the full decode.

    >>> summary = _decode_summary(b'{"state": {"service_id": "s", "operator_id": "o", '
    ...     b'"sector": "energy", "region": "UA", "status": "up", "last_evidence_at": 10, '
    ...     b'"expected_interval": 60.0, "partition": 2, "recent_event_ids": ["e1"]}, '
    ...     b'"incidents": {"open": null, "maintenance_open": null}, "vantages": []}')
    >>> summary["state"]["partition"], summary["state"]["last_evidence_at"], sorted(summary)
    (2, 10.0, ['incidents', 'state'])
    >>> _decode_summary({"service_id": "s", "partition": 1})["state"]["partition"]
    1
    """
    if isinstance(stored, bytes | bytearray | str):
        try:
            summary = _SUMMARY.decode(stored)
        except msgspec.ValidationError:
            pass  # not the current layout: the full decode below knows the older ones
        else:
            state = summary.state
            # Shared by every service that has them (the status export keeps them).
            state.operator_id = intern(state.operator_id)
            state.sector = intern(state.sector)
            state.region = intern(state.region)
            state.status = intern(state.status)
            return {
                "state": msgspec.structs.asdict(state),
                "incidents": {"maintenance_open": summary.incidents.maintenance_open},
            }
    return upgrade_stored(_decode(stored))


def _decode(stored: Any) -> dict[str, Any]:
    # Tables written before values were stored as bytes hold decoded dicts.
    decoded = orjson.loads(stored) if isinstance(stored, bytes | bytearray | str) else stored
    if not isinstance(decoded, dict):
        raise ValueError(f"stored service state is not an object: {type(decoded).__name__}")
    return decoded
