"""Notices built the way the policy builds them, for channel tests."""

from __future__ import annotations

import time

from pipeline.incidents.model import Incident, IncidentEvent, ServiceRef
from pipeline.notices.notice import Notice
from pipeline.notices.policy import NoticePolicy
from pipeline.notices.signals import signal_from_incident_record
from pipeline.notices.state import SubscriberState
from pipeline.notices.subscriptions import Subscriber


def opened_and_restored(
    subscriber: Subscriber, *, service: str = "grid.kyiv.f14", region: str = "UA-30"
) -> tuple[Notice, Notice]:
    """An "opened" and its "restored" notice for ``subscriber``, in order."""
    now = time.time()
    incident = Incident(
        f"{service}/{int(now)}",
        ServiceRef(service, "kyivenergo", "energy", region, 52_000),
        now - 30,
        now - 1,
        evidence_ids=["ev-1", "ev-2"],
        detectors=["consensus"],
        customers_affected=52_000,
    )
    policy = NoticePolicy(subscriber)
    state = SubscriberState()
    opened = signal_from_incident_record(IncidentEvent("detected", now - 1, incident).to_dict())
    policy.accept(state, opened, now)
    (first,) = policy.due(state, now + 1)
    incident.restored_at = now + 60
    restored = signal_from_incident_record(IncidentEvent("restored", now + 60, incident).to_dict())
    policy.accept(state, restored, now + 60)
    (second,) = policy.due(state, now + 61)
    return first, second
