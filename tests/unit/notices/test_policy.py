"""The notice policy: filters, grouping, dedup, follow-ups, reminders, rate limit (pure)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.incidents.model import Incident, IncidentEvent, ServiceRef
from pipeline.notices.channels.cap.config import AtomConfig
from pipeline.notices.channels.common import Delivery
from pipeline.notices.notice import Notice
from pipeline.notices.policy import NoticePolicy
from pipeline.notices.signals import Signal, signal_from_anomaly_record, signal_from_incident_record
from pipeline.notices.state import SubscriberState
from pipeline.notices.subscriptions import RateLimit, Scope, Subscriber, Timing

T0 = 1_700_000_000.0
CHANNEL = (AtomConfig(Delivery("atom")),)


def subscriber(**overrides: object) -> Subscriber:
    base = Subscriber("cert", CHANNEL, timing=Timing(0.5, 5.0, 0.0, RateLimit(100, 600.0)))
    return replace(base, **overrides)  # type: ignore[arg-type]


def incident_signal(
    event: str,
    service: str = "grid.f1",
    *,
    operator: str = "op1",
    sector: str = "energy",
    region: str = "UA-30",
    at: float = T0,
    severity: str = "down",
    maintenance: bool = False,
    detectors: tuple[str, ...] = ("consensus",),
) -> Signal:
    incident = Incident(
        f"{service}/1",
        ServiceRef(service, operator, sector, region),
        at - 5,
        at,
        severity=severity,
        maintenance=maintenance,
        detectors=list(detectors),
    )
    if event in ("restored", "maintenance_outage_ended"):
        incident.restored_at = at
    return signal_from_incident_record(IncidentEvent(event, at, incident).to_dict())


def run(policy: NoticePolicy, signals: list[Signal], *, until: float) -> list[Notice]:
    """Feed signals at their event times, ticking every 0.1 s until ``until``."""
    state = SubscriberState()
    notices: list[Notice] = []
    queue = sorted(signals, key=lambda s: s.at)
    now = min([s.at for s in signals], default=T0)
    while now <= until:
        while queue and queue[0].at <= now:
            policy.accept(state, queue.pop(0), now)
        notices += policy.due(state, now)
        now = round(now + 0.1, 3)
    return notices


def test_first_notice_leaves_after_group_wait_with_siblings_grouped() -> None:
    policy = NoticePolicy(subscriber())
    a = incident_signal("detected", "grid.f1")
    b = incident_signal("detected", "grid.f2", at=T0 + 0.3)
    c = incident_signal("detected", "grid.f3", operator="op2", at=T0 + 0.2)
    notices = run(policy, [a, b, c], until=T0 + 2)
    assert [(round(n.created_at - T0, 3), [i.services[0] for i in n.items]) for n in notices] == [
        (0.5, ["grid.f1", "grid.f2"]),
        (0.7, ["grid.f3"]),
    ]
    assert {n.kind for n in notices} == {"incident_opened"}
    assert notices[0].group == {"operator_id": "op1"}


def test_later_changes_to_a_group_wait_for_group_interval() -> None:
    policy = NoticePolicy(subscriber())
    first = incident_signal("detected", "grid.f1")
    later = incident_signal("detected", "grid.f2", at=T0 + 1.0)
    notices = run(policy, [first, later], until=T0 + 8)
    assert [round(n.created_at - T0, 1) for n in notices] == [0.5, 5.5]


def test_restoration_follows_only_an_opening_the_subscriber_was_told_of() -> None:
    policy = NoticePolicy(subscriber(min_severity="down"))
    degraded = incident_signal("detected", severity="degraded")
    restored = incident_signal("restored", at=T0 + 30)
    assert run(policy, [degraded, restored], until=T0 + 40) == []
    opened = incident_signal("detected")
    notices = run(policy, [opened, restored], until=T0 + 40)
    assert [n.kind for n in notices] == ["incident_opened", "incident_restored"]
    reference = notices[1].items[0].references[0]
    assert reference.notice_id == notices[0].notice_id


def test_scope_kinds_and_maintenance_filter() -> None:
    signal = incident_signal("detected", region="UA-30", sector="energy")
    state = SubscriberState()
    assert NoticePolicy(subscriber(scope=Scope(regions=("UA",)))).wants(state, signal)
    assert not NoticePolicy(subscriber(scope=Scope(regions=("PL",)))).wants(state, signal)
    assert not NoticePolicy(subscriber(scope=Scope(sectors=("health",)))).wants(state, signal)
    assert not NoticePolicy(subscriber(kinds=("incident_restored",))).wants(state, signal)
    planned = incident_signal("maintenance_outage_started", maintenance=True)
    assert not NoticePolicy(subscriber()).wants(state, planned)
    assert NoticePolicy(subscriber(include_maintenance=True)).wants(state, planned)


def test_silence_only_incidents_are_feed_silent() -> None:
    signal = incident_signal("detected", detectors=("silence",))
    assert signal.kind == "feed_silent"
    assert not NoticePolicy(subscriber(kinds=("incident_opened",))).wants(SubscriberState(), signal)


def test_replayed_records_are_dropped_even_after_a_state_round_trip() -> None:
    policy = NoticePolicy(subscriber())
    state = SubscriberState()
    opened = incident_signal("detected")
    assert policy.accept(state, opened, T0)
    assert not policy.accept(state, opened, T0 + 0.1)  # still pending
    (notice,) = policy.due(state, T0 + 0.5)
    recovered = SubscriberState.from_dict(state.to_dict())  # what a restart recovers
    assert not policy.accept(recovered, opened, T0 + 2)
    assert policy.due(recovered, T0 + 10) == []
    assert notice.items[0].key == opened.key


def test_notice_id_depends_only_on_subscriber_and_transitions() -> None:
    opened = incident_signal("detected")
    ids = set()
    for start in (T0, T0 + 100):
        state = SubscriberState()
        policy = NoticePolicy(subscriber())
        policy.accept(state, opened, start)
        ids |= {n.notice_id for n in policy.due(state, start + 1)}
    assert len(ids) == 1
    other = NoticePolicy(subscriber(subscriber_id="other"))
    state = SubscriberState()
    other.accept(state, opened, T0)
    assert {n.notice_id for n in other.due(state, T0 + 1)}.isdisjoint(ids)


def test_reminders_repeat_while_open_and_stop_when_restored() -> None:
    timing = Timing(0.5, 5.0, 60.0, RateLimit(100, 600.0))
    policy = NoticePolicy(subscriber(timing=timing))
    notices = run(
        policy,
        [incident_signal("detected"), incident_signal("restored", at=T0 + 150)],
        until=T0 + 300,
    )
    assert [(n.kind, round(n.created_at - T0)) for n in notices] == [
        ("incident_opened", 0),
        ("reminder", 60),
        ("reminder", 120),
        ("incident_restored", 150),
    ]
    assert len({n.notice_id for n in notices}) == 4


def test_rate_limit_holds_the_excess_and_summarises_it_once() -> None:
    timing = Timing(0.0, 0.0, 0.0, RateLimit(2, 60.0))
    policy = NoticePolicy(subscriber(timing=timing, group_by=("service_id",)))
    signals = [incident_signal("detected", f"s{i}", at=T0 + i) for i in range(6)]
    notices = run(policy, signals, until=T0 + 70)
    assert [n.kind for n in notices] == ["incident_opened", "incident_opened", "summary"]
    summary = notices[-1]
    assert summary.suppressed == 4
    assert [i.services[0] for i in summary.items] == ["s2", "s3", "s4", "s5"]
    assert round(summary.created_at - T0) == 60


def test_anomaly_records_become_signals_in_scope() -> None:
    kpi = signal_from_anomaly_record(
        {
            "type": "kpi_anomaly",
            "service_id": "tel.core",
            "metric": "attach_success",
            "at": T0,
            "value": 0.2,
            "score": 0.97,
            "event_id": "e1",
            "service": {"service_id": "tel.core", "operator_id": "op", "sector": "telecom",
                        "region": "UA-30"},
        }
    )  # fmt: skip
    finding = signal_from_anomaly_record(
        {"type": "concurrent_disruption", "finding_id": "f1", "region": "UA-30", "start": T0,
         "end": None, "incident_ids": ["a", "b"], "operators": ["o1", "o2"],
         "sectors": ["energy", "telecom"]}
    )  # fmt: skip
    scope = Scope(sectors=("telecom",), regions=("UA",))
    assert kpi.in_scope(scope)
    assert finding.in_scope(scope)
    assert not finding.in_scope(Scope(regions=("PL",)))


@st.composite
def lifecycles(draw: st.DrawFn) -> list[Signal]:
    """Incidents opened/updated/restored in random order, with replays."""
    signals: list[Signal] = []
    for n in range(draw(st.integers(1, 6))):
        start = T0 + draw(st.floats(0, 30))
        service, operator = f"s{n}", draw(st.sampled_from(["op1", "op2"]))
        opened = incident_signal("detected", service, operator=operator, at=start)
        signals.append(opened)
        if draw(st.booleans()):
            signals.append(
                incident_signal(
                    "restored", service, operator=operator, at=start + draw(st.floats(0.1, 20))
                )
            )
    replays = draw(st.lists(st.sampled_from(signals), max_size=5))
    return signals + [replace(s, at=s.at + 1.0) for s in replays]


@settings(max_examples=60, deadline=None)
@given(lifecycles(), st.integers(1, 5))
def test_every_transition_is_told_at_most_once_and_openings_come_first(
    signals: list[Signal], limit: int
) -> None:
    timing = Timing(0.5, 2.0, 0.0, RateLimit(limit, 10.0))
    notices = run(NoticePolicy(subscriber(timing=timing)), signals, until=T0 + 80)
    told = [i.key for n in notices if n.kind != "summary" for i in n.items]
    assert len(told) == len(set(told))
    summarised = [i.key for n in notices if n.kind == "summary" for i in n.items]
    assert set(told).isdisjoint(summarised)
    # Every distinct transition is either told or summarised: none is lost.
    assert set(told) | set(summarised) == {s.key for s in signals}
    first_seen: dict[str, float] = {}
    for n in notices:
        for item in n.items:
            first_seen.setdefault(item.key, n.created_at)
    for key, at in first_seen.items():
        if ":restored:" in key:
            assert first_seen[key.replace(":restored:", ":opened:")] <= at
    assert len(notices) == len({n.notice_id for n in notices})


def test_handled_keys_of_closed_subjects_are_forgotten_after_the_retention() -> None:
    policy = NoticePolicy(subscriber(), retention_s=3600.0)
    state = SubscriberState()
    closed, still_open = incident_signal("detected", "s1"), incident_signal("detected", "s2")
    for signal in (closed, still_open):
        policy.accept(state, signal, T0)
    policy.due(state, T0 + 1)
    policy.accept(state, incident_signal("restored", "s1", at=T0 + 10), T0 + 10)
    policy.due(state, T0 + 11)
    assert {closed.key, still_open.key} <= set(state.sent)
    policy.due(state, T0 + 7200)
    assert closed.key not in state.sent  # a replay this old is not expected any more
    assert still_open.key in state.sent  # an open outage keeps its opening
