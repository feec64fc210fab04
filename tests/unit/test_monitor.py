from __future__ import annotations

from pipeline.core.schema import Kind, Observation, Status
from pipeline.incidents.maintenance import MaintenanceCalendar, MaintenanceWindow
from pipeline.monitoring.monitor import Monitoring, MonitorParams, MonitorResult, ServiceMonitor
from pipeline.monitoring.status import SilencePolicy
from tests.support.observations import make_obs

T0 = 1_700_000_000.0


def run(
    monitoring: Monitoring, *observations: Observation, monitor: ServiceMonitor | None = None
) -> tuple[ServiceMonitor, list[MonitorResult]]:
    results = []
    for obs in observations:
        monitor, result = monitoring.observe(monitor, obs, partition=0, now=obs.observed_at + 1)
        results.append(result)
    assert monitor is not None
    return monitor, results


def events(results: list[MonitorResult]) -> list[str]:
    return [e.kind for r in results for e in r.incident_events]


def probe(at: float, ok: bool, vantage: str = "vp-1") -> Observation:
    return make_obs(
        "svc",
        at=at,
        kind=Kind.PROBE,
        status=Status.UP if ok else Status.DOWN,
        vantage=vantage,
        attrs={"expected_interval_s": 60},
    )


def test_one_failed_probe_pages_nobody() -> None:
    monitor, results = run(Monitoring(MonitorParams()), probe(T0, True), probe(T0 + 60, False))
    assert monitor.state.status is Status.UP
    assert events(results) == []


def test_single_vantage_opens_after_three_failures_and_closes_after_two_successes() -> None:
    steps = [probe(T0, True)] + [probe(T0 + 60 * i, False) for i in (1, 2, 3)]
    steps += [probe(T0 + 60 * i, True) for i in (4, 5)]
    monitor, results = run(Monitoring(MonitorParams()), *steps)
    assert events(results) == ["detected", "restored"]
    incident = monitor.incidents.incidents()[0]
    assert (incident.started_at, incident.restored_at) == (T0 + 60, T0 + 240)
    assert [c.current for r in results for c in r.status_changes] == [
        Status.UP,
        Status.DOWN,
        Status.UP,
    ]


def test_multi_vantage_consensus_opens_one_incident() -> None:
    vantages = ("a", "b", "c", "d")
    healthy = [probe(T0 + 60 * r + i, True, v) for r in range(5) for i, v in enumerate(vantages)]
    failing = [
        probe(T0 + 300 + 60 * r + i, False, v) for r in range(3) for i, v in enumerate(vantages)
    ]
    monitor, results = run(Monitoring(MonitorParams()), *healthy, *failing)
    assert events(results) == ["detected"]
    assert monitor.state.status is Status.DOWN
    assert monitor.consensus is not None


def test_silence_opens_an_incident_from_the_first_missed_report() -> None:
    monitoring = Monitoring(MonitorParams(silence=SilencePolicy(default_interval=10.0)))
    monitor, _ = run(monitoring, make_obs("svc", at=T0, kind=Kind.HEARTBEAT, status=None))
    result = monitoring.check(monitor, now=T0 + 45)
    assert [e.kind for e in result.incident_events] == ["detected"]
    assert monitor.incidents.open is not None
    assert monitor.incidents.open.started_at == T0 + 10
    _, later = run(
        monitoring, make_obs("svc", at=T0 + 50, kind=Kind.HEARTBEAT, status=None), monitor=monitor
    )
    assert events(later) == ["restored"]


def test_duplicate_report_does_not_open_a_second_incident() -> None:
    down = make_obs("svc", at=T0, kind=Kind.STATUS_REPORT, status=Status.DOWN, event_id="x")
    _, results = run(Monitoring(MonitorParams()), down, down)
    assert events(results) == ["detected"]


def test_outage_in_maintenance_window_is_recorded_separately() -> None:
    calendar = MaintenanceCalendar([MaintenanceWindow("svc", T0 - 100, T0 + 100, "planned")])
    monitoring = Monitoring(MonitorParams(), calendar)
    report = make_obs("svc", at=T0, kind=Kind.STATUS_REPORT, status=Status.DOWN)
    monitor, results = run(monitoring, report)
    assert events(results) == ["maintenance_outage_started"]
    assert monitor.incidents.open is None


def test_level_drop_on_a_counting_signal() -> None:
    def kpi(i: int, value: float) -> Observation:
        return make_obs(
            "svc",
            at=T0 + 60 * i,
            kind=Kind.KPI,
            status=None,
            metric="cells_in_service",
            value=value,
        )

    steady = [kpi(i, 1000.0) for i in range(15)]
    monitor, results = run(Monitoring(MonitorParams()), *steady, kpi(15, 200.0), kpi(16, 200.0))
    assert events(results) == ["detected"]
    assert monitor.state.status is Status.DOWN


def test_monitor_round_trips_through_a_dict() -> None:
    params = MonitorParams()
    monitor, _ = run(Monitoring(params), probe(T0, True), probe(T0 + 60, False))
    again = ServiceMonitor.from_dict(monitor.to_dict(), params)
    assert again.to_dict() == monitor.to_dict()


def test_state_stored_by_an_older_worker_is_upgraded() -> None:
    from pipeline.monitoring.status import ServiceState

    legacy = ServiceState("svc", "op", "energy", "UA", Status.UP, T0, T0, 10.0, 2).to_dict()
    legacy.pop("reason", None)  # before "reason" existed (now also left out at its default)
    monitoring = Monitoring(MonitorParams())
    deadline = monitoring.stored_check_deadline(legacy)
    assert deadline is not None
    assert deadline <= T0 + 30
    monitor = ServiceMonitor.from_dict(legacy, MonitorParams())
    assert monitor.state.status is Status.UP
    assert monitoring.check(monitor, now=T0 + 30).status_changes
