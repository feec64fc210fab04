"""Evidence is ordered per signal (kind, source, metric, vantage), not per service."""

from __future__ import annotations

from pipeline.core.schema import Kind, Observation, Status
from pipeline.monitoring.monitor import Monitoring, MonitorParams, ServiceMonitor
from pipeline.monitoring.status import Outcome, SilencePolicy, StatusTracker
from tests.support.observations import make_obs

T0 = 1_700_000_000.0


def probe(at: float, vantage: str = "fra") -> Observation:
    return make_obs("svc", at=at, kind=Kind.PROBE, status=Status.UP, vantage=vantage)


def report(at: float, affected: int, source: str = "outage-map") -> Observation:
    return make_obs(
        "svc",
        at=at,
        kind=Kind.OUTAGE_REPORT,
        status=None,
        source=source,
        customers_served=1000,
        customers_affected=affected,
    )


def test_a_batched_kpi_older_than_the_newest_probe_is_applied() -> None:
    tracker = StatusTracker(SilencePolicy())
    state, _, _ = tracker.observe(None, probe(T0 + 60), partition=0)
    kpi = make_obs("svc", at=T0, kind=Kind.KPI, status=None, metric="cells_in_service", value=9.0)
    state, _, outcome = tracker.observe(state, kpi, partition=0)
    assert outcome == Outcome.APPLIED
    older = make_obs("svc", at=T0 - 1, kind=Kind.KPI, status=None, metric="cells_in_service")
    _, _, outcome = tracker.observe(state, older, partition=0)
    assert outcome == Outcome.STALE  # older than its own signal's newest


def test_a_late_report_that_restores_still_restores() -> None:
    monitoring = Monitoring(MonitorParams())
    monitor: ServiceMonitor | None = None
    steps = [report(T0, 1000), probe(T0 + 100), probe(T0 + 200), report(T0 + 150, 0)]
    kinds = []
    for obs in steps:  # the "0 out" report is stamped before the newest probe
        monitor, result = monitoring.observe(monitor, obs, partition=0, now=obs.observed_at + 5)
        kinds += [e.kind for e in result.incident_events]
    assert monitor is not None
    assert kinds == ["detected", "restored"]
    incident = monitor.incidents.incidents()[0]
    assert (incident.started_at, incident.restored_at) == (T0, T0 + 150)


def test_a_late_report_does_not_override_a_newer_status() -> None:
    monitoring = Monitoring(MonitorParams())
    monitor, _ = monitoring.observe(None, probe(T0 + 100), partition=0, now=T0 + 100)
    monitor, _ = monitoring.observe(
        monitor, make_obs("svc", at=T0 + 200, kind=Kind.STATUS_REPORT, status=Status.UP),
        partition=0, now=T0 + 200,
    )  # fmt: skip
    monitor, result = monitoring.observe(
        monitor, report(T0 + 150, 1000, source="other-map"), partition=0, now=T0 + 210
    )
    assert result.outcome == Outcome.APPLIED
    assert monitor.state.status is Status.UP  # the status was set by newer evidence


def test_a_report_that_joined_a_detected_outage_ends_with_it() -> None:
    monitoring = Monitoring(MonitorParams())
    monitor: ServiceMonitor | None = None
    kinds = []
    values = [1000.0] * 20 + [700.0] * 10 + [1000.0] * 5  # degraded, then reported down
    for i, value in enumerate(values):
        kpi = make_obs("svc", at=T0 + 60.0 * i, kind=Kind.KPI, status=None,
                       metric="customers_reachable", value=value)  # fmt: skip
        monitor, result = monitoring.observe(monitor, kpi, partition=0, now=kpi.observed_at)
        kinds += [e.kind for e in result.incident_events]
        if i == 24:  # the operator confirms the outage; it never reports the restoration
            down = make_obs("svc", at=T0 + 60.0 * i + 1, kind=Kind.STATUS_REPORT,
                            status=Status.DOWN, source="operator")  # fmt: skip
            monitor, result = monitoring.observe(monitor, down, partition=0, now=T0 + 60.0 * i)
            kinds += [e.kind for e in result.incident_events]
    assert monitor is not None
    assert kinds[0] == "detected"
    assert kinds[-1] == "restored"
    (incident,) = monitor.incidents.incidents()
    assert incident.restored_at == T0 + 60.0 * 30
