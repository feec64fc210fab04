"""The rebalance check's reference and comparison, without Kafka."""

from __future__ import annotations

import time
from collections import Counter

from pipeline.bench.data import ObservationMix, service_ref
from pipeline.bench.rebalance import compare_incidents, passed, reference_incidents
from pipeline.core.schema import Kind, Status


def outage_records() -> list[tuple[bytes, bytes]]:
    start = time.time() - 600.0  # validation rejects evidence older than its limit
    mix = ObservationMix(1, seed=1)
    ref = service_ref(0)
    script = [Status.UP, Status.DOWN, Status.DOWN, Status.UP]
    return [
        (
            ref.service_id.encode(),
            mix.observation(
                ref,
                event_id=f"e{i}",
                observed_at=start + 60 * i,
                status=status,
                kind=Kind.STATUS_REPORT,
            ).to_json(),
        )
        for i, status in enumerate(script)
    ]


def test_reference_sees_one_reported_outage_from_detection_to_restoration() -> None:
    events = reference_incidents(outage_records())

    # A status report saying "down" is the operator's own word: detected and acknowledged.
    assert sorted(kind for _, kind in events) == ["acknowledged", "detected", "restored"]
    assert len({incident_id for incident_id, _ in events}) == 1
    assert set(events.values()) == {1}


def test_replayed_batch_counts_as_duplicated_not_lost() -> None:
    reference = reference_incidents(outage_records())
    replayed = reference + Counter({next(iter(reference)): 1})

    result = compare_incidents(reference, replayed)

    assert (result["lost"], result["spurious"], result["duplicated"]) == (0, 0, 1)
    assert not passed({**result, "rebalanced": True})


def test_identical_incidents_after_a_rebalance_pass() -> None:
    reference = reference_incidents(outage_records())

    result = compare_incidents(reference, Counter(reference))

    assert passed({**result, "rebalanced": True})
    assert not passed({**result, "rebalanced": False})
