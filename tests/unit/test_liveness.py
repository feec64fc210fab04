"""Signs of life for silence: failing probes are none, a frozen push feed is not restored by
a probe, and probe windows do not come from the heartbeat interval (issue 14, classes 2, 4)."""

from __future__ import annotations

from pipeline.core.schema import Kind, Observation, Status
from pipeline.detection.consensus import ProbeConsensus
from pipeline.monitoring.monitor import Monitoring, MonitorParams, MonitorResult, ServiceMonitor
from pipeline.monitoring.status import ServiceState, SilencePolicy, StatusTracker
from tests.support.observations import make_obs

T0 = 1_700_000_000.0
VANTAGES = ("fra", "waw", "ams", "kyiv")


def probe(at: float, ok: bool, vantage: str) -> Observation:
    status = Status.UP if ok else Status.DOWN
    return make_obs("svc", at=at, kind=Kind.PROBE, status=status, vantage=vantage)


def heartbeat(at: float) -> Observation:
    return make_obs("svc", at=at, kind=Kind.HEARTBEAT, status=None, source="feed")


class Run:
    def __init__(self, heartbeat_s: float = 30.0) -> None:
        self.monitoring = Monitoring(MonitorParams(silence=SilencePolicy(heartbeat_s)))
        self.monitor: ServiceMonitor | None = None
        self.events: list[tuple[str, float]] = []

    def feed(self, *observations: Observation) -> None:
        for obs in sorted(observations, key=lambda o: o.observed_at):
            self.tick(obs.observed_at)
            self.monitor, result = self.monitoring.observe(
                self.monitor, obs, partition=0, now=obs.observed_at
            )
            self._keep(result)

    def tick(self, now: float) -> None:
        if self.monitor is not None and self.monitoring.monitor_needs_check(self.monitor, now):
            self._keep(self.monitoring.check(self.monitor, now=now))

    def _keep(self, result: MonitorResult) -> None:
        self.events += [(e.kind, e.at) for e in result.incident_events]


def probes(start: float, end: float, ok: bool) -> list[Observation]:
    return [
        probe(t + 15.0 * i, ok, v)
        for t in range(int(start), int(end), 60)
        for i, v in enumerate(VANTAGES)
    ]


def fold(tracker: StatusTracker, observations: list[Observation]) -> ServiceState:
    state: ServiceState | None = None
    for obs in sorted(observations, key=lambda o: o.observed_at):
        state, _, _ = tracker.observe(state, obs, partition=0, asserts=obs.kind is not Kind.PROBE)
    assert state is not None
    return state


def test_failing_probes_are_no_sign_of_life_for_heartbeat_silence() -> None:
    tracker = StatusTracker(SilencePolicy(30.0))
    alive = [*[heartbeat(T0 + 30.0 * i) for i in range(20)], *probes(T0, T0 + 600, True)]
    # the service dies: heartbeats stop, every probe fails (but keeps arriving)
    state = fold(tracker, [*alive, *probes(T0 + 600, T0 + 900, False)])
    assert state.alive_at == T0 + 570.0
    state, change = tracker.check_silence(state, now=T0 + 900)
    assert change is not None
    assert (change.current, change.at) == (Status.DOWN, T0 + 690.0)


def test_probe_windows_are_learned_from_probes_not_the_heartbeat_interval() -> None:
    run = Run(heartbeat_s=30.0)
    run.feed(*[heartbeat(T0 + 30.0 * i) for i in range(20)], *probes(T0, T0 + 600, True))
    assert run.monitor is not None
    assert run.monitor.consensus is not None
    assert 55.0 < run.monitor.consensus.step < 65.0
    # a partial outage (2 of 4 vantages fail) with heartbeats still coming is detected
    partial = [
        probe(t + 15.0 * i, v in ("fra", "waw"), v)
        for t in range(int(T0 + 600), int(T0 + 1200), 60)
        for i, v in enumerate(VANTAGES)
    ]
    run.feed(*partial, *[heartbeat(T0 + 600 + 30.0 * i) for i in range(20)])
    assert [k for k, _ in run.events] == ["detected"]


def test_a_corroborated_failure_is_not_learned_as_the_vantage_baseline() -> None:
    pc = ProbeConsensus("svc")
    prior = pc.baseline("fra")
    for r in range(300):  # a long shared low-grade failure, never enough to open
        for i, v in enumerate(VANTAGES):
            failing = v in ("fra", "waw") and r % 10 == 0
            pc.observe(T0 + 60.0 * r + 15 * i, v, not failing, f"{v}{r}")
    assert not pc.down
    assert pc.baseline("fra") <= prior
    lone = ProbeConsensus("svc")
    for r in range(300):  # the same failures from one vantage alone are its own noise
        for i, v in enumerate(VANTAGES):
            lone.observe(T0 + 60.0 * r + 15 * i, v, not (v == "fra" and r % 10 == 0), f"{v}{r}")
    assert lone.baseline("fra") > 2 * prior


def test_a_frozen_feed_is_not_restored_by_a_probe() -> None:
    run = Run()
    run.feed(*[heartbeat(T0 + 30.0 * i) for i in range(20)], *probes(T0, T0 + 600, True))
    frozen = make_obs(
        "svc", at=T0 + 700, kind=Kind.STATUS_REPORT, status=Status.UNKNOWN, source="connector"
    )
    run.feed(frozen, *probes(T0 + 600, T0 + 2400, True))  # the web front still answers
    assert run.monitor is not None
    assert run.monitor.state.status is Status.DOWN
    assert [k for k, _ in run.events] == ["detected"]
    run.feed(heartbeat(T0 + 2400))  # the feed itself comes back
    assert [k for k, _ in run.events] == ["detected", "restored"]
    assert run.events[-1][1] == T0 + 2400


def test_a_probe_only_service_is_kept_alive_by_successful_probes_only() -> None:
    tracker = StatusTracker(SilencePolicy(60.0))
    state = fold(tracker, [*probes(T0, T0 + 600, True), *probes(T0 + 600, T0 + 1200, False)])
    state, change = tracker.check_silence(state, now=T0 + 1200)
    assert change is not None
    assert change.current is Status.DOWN
    state, change, _ = tracker.observe(state, probe(T0 + 1201, True, "fra"), partition=0,
                                       asserts=False)  # fmt: skip
    assert change is not None
    assert change.current is Status.UP
