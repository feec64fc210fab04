"""Scale-out correctness: a second worker joins mid-run; no incident is lost or duplicated.

The same pre-filled observations are run twice:

* in process, through one :class:`ObservationProcessor` (the reference: what a single,
  never-interrupted worker decides), and
* through two worker subprocesses in one consumer group, the second started once the first
  has committed part of the topic, so partitions (and their table state) move mid-stream.

Incident events are compared by ``(incident_id, event)`` and how often each occurs (the
``at`` of a detection is the worker's wall clock, so it differs between the two runs): every
reference event must appear on the run's incidents topic as often as in the reference (none
lost), none may appear that the reference lacks (no spurious incident from a lost state), and
none more often (a replay after the rebalance re-emitting an event: a duplicate message).

>>> reference = Counter({("s/1", "detected"): 1, ("s/1", "restored"): 1})
>>> seen = Counter({("s/1", "detected"): 2})
>>> compare_incidents(reference, seen)["lost"], compare_incidents(reference, seen)["duplicated"]
(1, 1)
"""

from __future__ import annotations

import math
import time
from collections import Counter
from typing import Any

import orjson

from pipeline.bench.kafka_io import GroupProgress, end_offsets, produce_bare, read_topic
from pipeline.bench.stages import (
    PROCESSOR_BATCH,
    QUIET_INTERVAL_S,
    BenchRun,
    Records,
    make_processor,
)
from pipeline.ops.topics import ensure_topics
from pipeline.worker.live_states import LiveStates

IncidentKey = tuple[str, str]


def _incident_key(value: bytes) -> IncidentKey:
    event = orjson.loads(value)
    return (str(event["incident"]["incident_id"]), str(event["event"]))


def reference_incidents(records: Records, *, batch: int = PROCESSOR_BATCH) -> Counter[IncidentKey]:
    """Incident events of one uninterrupted in-process processor over ``records``."""
    processor = make_processor()
    live = LiveStates({}, processor.monitoring)
    found: Counter[IncidentKey] = Counter()
    for offset, (_key, value) in enumerate(records):
        out = processor.handle(value, live, topic="reference", partition=0, offset=offset)
        found.update(_incident_key(v) for _, v in out.incidents)
        if offset % batch == batch - 1:
            processor.flush(live)
    return found


def compare_incidents(
    reference: Counter[IncidentKey], seen: Counter[IncidentKey]
) -> dict[str, Any]:
    """Lost, spurious and duplicated incident events of ``seen`` against ``reference``."""
    lost = sorted(key for key, count in reference.items() if seen.get(key, 0) < count)
    spurious = sorted(set(seen) - set(reference))
    duplicated = sorted(key for key, count in seen.items() if count > reference.get(key, 0) > 0)
    return {
        "reference_events": sum(reference.values()),
        "reference_incidents": len({key[0] for key in reference}),
        "seen_events": sum(seen.values()),
        "lost": len(lost),
        "spurious": len(spurious),
        "duplicated": len(duplicated),
        "examples": {"lost": lost[:5], "spurious": spurious[:5], "duplicated": duplicated[:5]},
    }


def rebalance_check(
    bench: BenchRun,
    records: Records,
    *,
    join_after: float = 0.3,
    extra_env: dict[str, str] | None = None,
    label: str = "rebalance",
) -> dict[str, Any]:
    """Worker A alone, worker B joins after ``join_after`` of the topic is committed; the
    incidents topic is then compared with :func:`reference_incidents`. A group that stops
    committing for ``bench.stall_after`` seconds is reported (``commit_stalled``: the
    committed offsets per partition then) and followed by the workers' counters instead
    (faust can stop committing a partition after a rebalance while its agent goes on: the
    offsets then lag, and a restart replays; see :mod:`pipeline.bench.completion`)."""
    topics = bench.namespace(label)
    bootstrap, security = bench.base.kafka_bootstrap, bench.security
    ensure_topics(bootstrap, topics.all(), partitions=bench.base.partitions, security=security)
    produce_bare(bootstrap, topics.observations, records, security=security)
    reference = reference_incidents(records)
    app_id = f"{bench.run}-{label}"
    first, second = (
        bench.worker(
            f"{label}-{name}",
            topics,
            app_id,
            default_interval=QUIET_INTERVAL_S,
            extra_env=extra_env,
        )
        for name in ("a", "b")
    )
    group = GroupProgress(bootstrap, app_id, topics.observations, security=security)
    expected = len(records)
    deadline = time.monotonic() + bench.stage_timeout
    try:
        first.start().wait_ready()
        joined_at = math.ceil(join_after * expected)
        alone = bench.wait_through(group, [first], joined_at, total=expected, deadline=deadline)
        second.start().wait_ready()
        together = bench.wait_through(
            group, [first, second], expected, total=expected, deadline=deadline
        )
        processed = [first.sample().processed, second.sample().processed]
    finally:
        group.close()
        for worker in (first, second):
            worker.stop()
    seen = Counter(
        _incident_key(v) for v in read_topic(bootstrap, topics.incidents, security=security)
    )
    return {
        "observations": expected,
        "second_joined_at_committed": alone.committed,
        "processed_by_worker": processed,
        # Observations handled twice: after the rebalance, the new owner resumes from the
        # last committed offset, so some of the old owner's work is replayed.
        "replayed": sum(processed) - expected,
        # Both must have done some of the work, or there was no rebalance to check.
        "rebalanced": all(count > 0 for count in processed),
        # Committed offsets per partition when the group stopped committing, if it did.
        "commit_stalled": together.stalled_offsets or alone.stalled_offsets,
        "end_offsets": end_offsets(bootstrap, topics.observations, security=security),
        **compare_incidents(reference, seen),
    }


def passed(result: dict[str, Any]) -> bool:
    """No incident event lost, none spurious, none duplicated, and a rebalance took place
    (a commit stall is reported beside this: it costs replay time, not correctness)."""
    return bool(result["rebalanced"]) and not any(
        result[key] for key in ("lost", "spurious", "duplicated")
    )
