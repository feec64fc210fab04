"""The notifier's decisions over stored bytes, without Kafka in sight.

:meth:`NoticeEngine.route` says which subscribers a record may concern (a stateless
pre-filter, so the record can be re-keyed by subscriber); :meth:`NoticeEngine.decide` runs
that subscriber's policy over its stored state and returns the new state with the notices
to record and the deliveries now owed. The stored value keeps the policy state and an
*outbox*: every (channel, notice) decided but not yet delivered or given up on. It is
written (and flushed to the changelog) before delivery starts, so a crash never loses a
notice, and a replayed record never creates a second one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from pipeline.notices.notice import Notice
from pipeline.notices.policy import NoticePolicy
from pipeline.notices.signals import (
    Signal,
    SignalRejected,
    signal_from_anomaly_record,
    signal_from_incident_record,
)
from pipeline.notices.state import SubscriberState
from pipeline.notices.subscriptions import Subscriptions

_FOLLOW_UPS = frozenset({"incident_updated", "incident_acknowledged", "incident_restored"})


@dataclass(slots=True)
class Stored:
    """One subscriber's table value: policy state plus undelivered (channel, notice) pairs."""

    state: SubscriberState = field(default_factory=SubscriberState)
    outbox: dict[str, dict[str, Any]] = field(default_factory=dict)  # "channel|id" -> notice

    def encode(self) -> bytes:
        return orjson.dumps({"state": self.state.to_dict(), "outbox": self.outbox})

    @classmethod
    def decode(cls, raw: bytes | None) -> Stored:
        if not raw:
            return cls()
        data = orjson.loads(raw)
        return cls(SubscriberState.from_dict(data["state"]), dict(data["outbox"]))

    def owed(self) -> list[tuple[str, Notice]]:
        """Deliveries not finished yet: (channel, notice)."""
        return [
            (key.split("|", 1)[0], Notice.from_dict(notice)) for key, notice in self.outbox.items()
        ]


@dataclass(slots=True)
class Decision:
    stored: Stored
    notices: list[Notice]
    wakeup: float | None


class NoticeEngine:
    def __init__(self, subscriptions: Subscriptions, *, clock: Callable[[], float]) -> None:
        self.subscriptions = subscriptions
        self.clock = clock
        self.policies = {s.subscriber_id: NoticePolicy(s) for s in subscriptions.subscribers}

    def parse(self, raw: bytes, *, anomalies: bool) -> Signal:
        """Raises :class:`SignalRejected` for a record that is not JSON or not a known shape."""
        try:
            record = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise SignalRejected(f"malformed JSON: {exc}") from None
        if anomalies:
            return signal_from_anomaly_record(record)
        return signal_from_incident_record(record)

    def route(self, signal: Signal) -> list[str]:
        """Subscribers that may want ``signal`` (follow-ups go wherever the kind is wanted)."""
        empty = SubscriberState()
        return [
            subscriber_id
            for subscriber_id, policy in self.policies.items()
            if signal.kind in policy.subscriber.kinds
            and (signal.kind in _FOLLOW_UPS or policy.wants(empty, signal))
        ]

    def decide(self, subscriber_id: str, stored: Stored, signal: Signal | None) -> Decision:
        """Accept ``signal`` (if any), collect due notices and put them in the outbox."""
        policy = self.policies[subscriber_id]
        now = self.clock()
        if signal is not None:
            policy.accept(stored.state, signal, now)
        notices = policy.due(stored.state, now)
        for notice in notices:
            for channel in policy.subscriber.channels:
                stored.outbox[f"{channel.delivery.name}|{notice.notice_id}"] = notice.to_dict()
        return Decision(stored, notices, policy.next_wakeup(stored.state))

    @staticmethod
    def finish(stored: Stored, channel: str, notice_id: str) -> bool:
        """Take a finished delivery out of the outbox; False if it was not there."""
        return stored.outbox.pop(f"{channel}|{notice_id}", None) is not None
