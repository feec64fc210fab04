from __future__ import annotations

from typing import Any

import orjson

from pipeline.core.schema import Kind
from pipeline.monitoring.monitor import Monitoring, MonitorParams, ServiceMonitor
from pipeline.monitoring.status import SilencePolicy
from pipeline.worker.live_states import LiveStates
from tests.support.observations import make_obs

T0 = 1_700_000_000.0
INTERVAL = 10.0  # silent services turn unknown at +20 s, down at +40 s


class CountingStore(dict[str, Any]):
    """A table stand-in that counts writes (each one is a changelog record)."""

    writes = 0

    def __setitem__(self, key: str, value: Any) -> None:
        self.writes += 1
        super().__setitem__(key, value)


def setup(capacity: int = 100) -> tuple[CountingStore, Monitoring, LiveStates]:
    monitoring = Monitoring(MonitorParams(silence=SilencePolicy(default_interval=INTERVAL)))
    store = CountingStore()
    return store, monitoring, LiveStates(store, monitoring, capacity=capacity)


def heartbeat(
    monitoring: Monitoring, live: LiveStates, service: str, at: float, partition: int = 0
) -> ServiceMonitor:
    obs = make_obs(service, at=at, kind=Kind.HEARTBEAT, status=None)
    monitor, _result = monitoring.observe(live.get(service), obs, partition=partition, now=at)
    live.put(service, monitor)
    return monitor


def test_a_batch_writes_each_changed_service_once() -> None:
    store, monitoring, live = setup()
    for second in range(5):
        heartbeat(monitoring, live, "a", T0 + second)
        heartbeat(monitoring, live, "b", T0 + second)
    assert [key for key, _ in live.flush()] == ["a", "b"]
    assert store.writes == 2
    assert orjson.loads(store["a"])["state"]["last_evidence_at"] == T0 + 4
    assert live.flush() == []


def test_state_replaced_behind_its_back_wins_over_the_live_copy() -> None:
    store, monitoring, live = setup()
    heartbeat(monitoring, live, "a", T0)
    live.flush()
    recovered = orjson.loads(store["a"])
    recovered["state"]["last_evidence_at"] = T0 + 99  # e.g. restored from the changelog
    store["a"] = orjson.dumps(recovered)
    monitor = live.get("a")
    assert monitor is not None
    assert monitor.state.last_evidence_at == T0 + 99


def test_evicted_monitors_are_decoded_again() -> None:
    _store, monitoring, live = setup(capacity=2)
    for service in ("a", "b", "c"):
        heartbeat(monitoring, live, service, T0)
    live.flush()
    monitor = live.get("a")
    assert monitor is not None
    assert monitor.state.service_id == "a"


def test_discard_falls_back_to_the_stored_state() -> None:
    _store, monitoring, live = setup()
    heartbeat(monitoring, live, "a", T0)
    live.flush()
    heartbeat(monitoring, live, "a", T0 + 5)
    live.discard("a")
    monitor = live.get("a")
    assert monitor is not None
    assert monitor.state.last_evidence_at == T0


def test_due_returns_each_silent_service_once_and_only_when_due() -> None:
    _store, monitoring, live = setup()
    heartbeat(monitoring, live, "quiet", T0)
    heartbeat(monitoring, live, "chatty", T0)
    live.flush()
    assert live.due(T0 + 19, owned={0}) == []
    heartbeat(monitoring, live, "chatty", T0 + 15)  # pushes its deadline to +35
    live.flush()
    assert live.due(T0 + 21, owned={0}) == ["quiet"]
    assert live.due(T0 + 22, owned={0}) == []  # not rescheduled by the caller yet
    monitor = live.get("quiet")
    assert monitor is not None
    monitor.state, _change = monitoring.tracker.check_silence(monitor.state, now=T0 + 21)
    live.put("quiet", monitor)
    live.flush()
    assert live.due(T0 + 36, owned={0}) == ["chatty"]
    assert live.due(T0 + 41, owned={0}) == ["quiet"]  # unknown -> down at 4 intervals


def test_a_recovered_table_is_found_and_a_revoked_partition_dropped() -> None:
    store, monitoring, first = setup()
    heartbeat(monitoring, first, "p0", T0, partition=0)
    heartbeat(monitoring, first, "p1", T0, partition=1)
    first.flush()
    recovered = LiveStates(store, monitoring)  # a restarted worker over the recovered table
    assert sorted(recovered.due(T0 + 21, owned={0, 1})) == ["p0", "p1"]
    membership = recovered.take_membership_changes()
    assert sorted(key for key, _stored in membership.recovered) == ["p0", "p1"]
    assert recovered.tracked == 2
    recovered.due(T0 + 21, owned={1})
    assert recovered.take_membership_changes().dropped == ["p0"]
    assert recovered.tracked == 1


def test_unreadable_stored_states_are_reported_not_raised() -> None:
    store, monitoring, live = setup()
    store["broken"] = b"[1, 2]"
    heartbeat(monitoring, live, "fine", T0)
    live.flush()
    assert live.due(T0 + 21, owned={0}) == ["fine"]
    assert live.take_membership_changes().unreadable == ["broken"]
