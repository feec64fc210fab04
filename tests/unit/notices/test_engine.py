"""The notifier's decisions over stored bytes: routing, outbox, replay after a restart."""

from __future__ import annotations

import orjson
import pytest

from pipeline.incidents.model import Incident, IncidentEvent, ServiceRef
from pipeline.notices.engine import NoticeEngine, Stored
from pipeline.notices.signals import SignalRejected
from pipeline.notices.subscriptions import parse_subscriptions

SUBS = """\
version: 1
subscribers:
  - id: ua
    scope: {regions: [UA]}
    channels: [{type: atom}, {type: kafka, topic: t}]
  - id: pl
    scope: {regions: [PL]}
    channels: [{type: atom}]
"""


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def engine(clock: Clock) -> NoticeEngine:
    subs, errors = parse_subscriptions(SUBS, "s.yaml")
    assert subs is not None, errors
    return NoticeEngine(subs, clock=clock)


def record(event: str, region: str = "UA-30") -> bytes:
    incident = Incident("svc/1", ServiceRef("svc", "op", "energy", region), 1.0, 2.0)
    if event == "restored":
        incident.restored_at = 3.0
    return orjson.dumps(IncidentEvent(event, 2.0, incident).to_dict())


def test_routes_openings_by_scope_and_follow_ups_to_everyone_who_may_have_been_told() -> None:
    e = engine(Clock())
    assert e.route(e.parse(record("detected"), anomalies=False)) == ["ua"]
    assert e.route(e.parse(record("detected", "PL-14"), anomalies=False)) == ["pl"]
    assert e.route(e.parse(record("restored"), anomalies=False)) == ["ua", "pl"]


def test_unreadable_records_are_rejected_with_a_reason() -> None:
    e = engine(Clock())
    with pytest.raises(SignalRejected, match="malformed JSON"):
        e.parse(b"{", anomalies=False)
    with pytest.raises(SignalRejected, match="not an incident record"):
        e.parse(b'{"event": "detected"}', anomalies=False)
    with pytest.raises(SignalRejected, match="unknown anomaly type"):
        e.parse(b'{"type": "other"}', anomalies=True)


def test_outbox_holds_every_channel_until_finished_and_survives_a_restart() -> None:
    clock = Clock()
    e = engine(clock)
    signal = e.parse(record("detected"), anomalies=False)
    stored = Stored()
    first = e.decide("ua", stored, signal)
    assert first.notices == []
    assert first.wakeup == pytest.approx(clock.now + 0.5)
    clock.now += 0.5
    due = e.decide("ua", stored, None)
    (notice,) = due.notices
    assert sorted(channel for channel, _n in stored.owed()) == ["atom", "kafka"]
    assert e.finish(stored, "atom", notice.notice_id)
    assert not e.finish(stored, "atom", notice.notice_id)
    # A restart recovers the bytes; the replayed record decides nothing new, the kafka
    # delivery is still owed.
    recovered = Stored.decode(stored.encode())
    clock.now += 5
    again = e.decide("ua", recovered, signal)
    assert again.notices == []
    assert [(c, n.notice_id) for c, n in recovered.owed()] == [("kafka", notice.notice_id)]


def test_a_follow_up_needs_the_recovered_state_which_an_unrecovered_look_would_overwrite() -> None:
    """Why the notifier decides only over recovered state (see ``Ownership``): a look at a
    subscriber whose state is not recovered yet writes an empty state, and the follow-up
    decided over it is dropped as one whose opening was never told."""
    clock = Clock()
    e = engine(clock)
    stored = Stored()
    e.decide("ua", stored, e.parse(record("detected"), anomalies=False))
    clock.now += 0.5
    (opened,) = e.decide("ua", stored, None).notices
    changelog = stored.encode()
    restored = e.parse(record("restored"), anomalies=False)

    clock.now += 1
    recovered = Stored.decode(changelog)
    e.decide("ua", recovered, restored)
    clock.now += 0.5
    (notice,) = e.decide("ua", recovered, None).notices
    assert notice.kind == "incident_restored"
    assert notice.items[0].references[0].notice_id == opened.notice_id

    not_recovered = Stored.decode(None)
    e.decide("ua", not_recovered, None)
    # What the notifier would write over ``changelog``: no longer knows the opening.
    assert Stored.decode(changelog).state.open
    assert not Stored.decode(not_recovered.encode()).state.open
    e.decide("ua", not_recovered, restored)
    clock.now += 0.5
    assert e.decide("ua", not_recovered, None).notices == []
