"""Concurrent disruption findings and the event-id memory."""

from __future__ import annotations

import orjson

from pipeline.core.schema import Status
from pipeline.detection.correlation import DisruptionCorrelator, Span, concurrent_disruptions
from pipeline.detection.dedup import RecentIds
from pipeline.detection.verdict import Verdict


def span(
    iid: str, op: str, sector: str, start: float, end: float | None, region: str = "UA-30"
) -> Span:
    return Span(iid, f"svc-{iid}", op, sector, region, start, end)


def test_cross_operator_overlap_is_a_finding_with_evidence() -> None:
    found = concurrent_disruptions(
        [
            span("a", "op1", "energy", 0, 600),
            span("b", "op2", "energy", 300, 900),
            span("c", "op3", "health", 5000, 5100),
        ]
    )
    assert len(found) == 1
    assert found[0].incident_ids == ("a", "b")
    assert found[0].operators == ("op1", "op2")
    assert found[0].end == 900


def test_same_operator_and_sector_or_other_region_or_far_apart_is_not() -> None:
    assert (
        concurrent_disruptions(
            [span("a", "op1", "energy", 0, 600), span("b", "op1", "energy", 10, 20)]
        )
        == []
    )
    assert (
        concurrent_disruptions(
            [span("a", "op1", "energy", 0, 600), span("b", "op2", "telecom", 10, None, "EE")]
        )
        == []
    )
    assert (
        concurrent_disruptions(
            [span("a", "op1", "energy", 0, 600), span("b", "op2", "telecom", 2000, None)],
            window_s=900,
        )
        == []
    )


def test_same_operator_across_sectors_counts() -> None:
    found = concurrent_disruptions(
        [span("a", "op1", "energy", 0, None), span("b", "op1", "telecom", 100, None)]
    )
    assert [f.sectors for f in found] == [("energy", "telecom")]
    assert found[0].end is None


def test_streaming_correlator_emits_new_and_grown_findings_once() -> None:
    c = DisruptionCorrelator()
    assert c.observe(span("a", "op1", "energy", 0, None)) == []
    first = c.observe(span("b", "op2", "telecom", 60, None))
    assert [f.incident_ids for f in first] == [("a", "b")]
    assert c.observe(span("b", "op2", "telecom", 60, None)) == []  # nothing new
    restored = DisruptionCorrelator.from_dict(orjson.loads(orjson.dumps(c.to_dict())))
    grown = restored.observe(span("c", "op3", "transport", 120, None))
    assert [f.incident_ids for f in grown] == [("a", "b", "c")]
    assert grown[0].finding_id == first[0].finding_id
    assert orjson.loads(orjson.dumps(grown[0].to_dict()))["type"] == "concurrent_disruption"


def test_recent_ids_is_bounded_and_round_trips() -> None:
    r = RecentIds(capacity=3)
    assert [r.add(x) for x in "abca"] == [True, True, True, False]
    r.add("d")
    assert "a" not in r
    assert RecentIds.from_dict(r.to_dict()).to_dict() == r.to_dict()


def test_verdict_round_trip() -> None:
    v = Verdict("s", "level_drop", Status.DEGRADED, 2.0, 1.0, ("e",), 10, "x")
    assert Verdict.from_dict(orjson.loads(orjson.dumps(v.to_dict()))) == v
    assert v.failing
