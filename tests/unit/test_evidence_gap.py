"""A feed stall with a later backfill is an evidence gap, not an outage (issue 14, class 6)."""

from __future__ import annotations

from pipeline.core.schema import Kind, Observation, Status
from pipeline.indicators.rollup import rollup
from pipeline.monitoring.monitor import Monitoring, MonitorParams, ServiceMonitor
from pipeline.monitoring.status import SilencePolicy
from tests.support.observations import make_obs

T0 = 1_700_000_000.0


def heartbeat(at: float) -> Observation:
    return make_obs("svc", at=at, kind=Kind.HEARTBEAT, status=None, source="feed")


def probe(at: float) -> Observation:
    return make_obs("svc", at=at, kind=Kind.PROBE, status=Status.UP, vantage="fra")


def replay(arrivals: list[tuple[float, Observation]]) -> tuple[ServiceMonitor, list[str]]:
    """Observations in arrival order; the clock (``now``) is the arrival time."""
    monitoring = Monitoring(MonitorParams(silence=SilencePolicy(30.0)))
    monitor: ServiceMonitor | None = None
    kinds: list[str] = []
    next_check = T0
    for arrival, obs in sorted(arrivals, key=lambda a: a[0]):
        if monitor is not None and arrival >= next_check:  # the worker checks every 5 s
            next_check = arrival + 5.0
            if monitoring.monitor_needs_check(monitor, arrival):
                kinds += [e.kind for e in monitoring.check(monitor, now=arrival).incident_events]
        monitor, result = monitoring.observe(monitor, obs, partition=0, now=arrival)
        kinds += [e.kind for e in result.incident_events]
    assert monitor is not None
    return monitor, kinds


def test_a_stalled_feed_whose_backlog_arrives_is_annotated_and_costs_no_downtime() -> None:
    beats = [heartbeat(T0 + 30.0 * i) for i in range(40)]
    # beats 11..29 (T0+330..T0+870) are held up by the feed and delivered at T0+900
    arrivals = [(T0 + 900.0 if 11 <= i < 30 else b.observed_at + 1.0, b)
                for i, b in enumerate(beats)]  # fmt: skip
    arrivals += [(T0 + 15.0 * i + 1, probe(T0 + 15.0 * i)) for i in range(80)]
    monitor, kinds = replay(arrivals)
    assert kinds == ["detected", "updated", "restored"]
    (incident,) = monitor.incidents.incidents()
    assert incident.evidence_gap
    assert incident.attrs["classification"] == "evidence_gap"
    rows = rollup([incident], [incident.service], now=T0 + 3600.0, windows={"1h": 3600.0})
    avail = [r.value for r in rows if r.name == "availability_incl_maintenance"]
    assert avail
    assert set(avail) == {1.0}


def test_a_real_silence_is_not_annotated() -> None:
    beats = [heartbeat(T0 + 30.0 * i) for i in range(40) if not 11 <= i < 30]  # never sent
    arrivals = [(b.observed_at + 1.0, b) for b in beats]
    arrivals += [(T0 + 15.0 * i + 1, probe(T0 + 15.0 * i)) for i in range(80)]
    monitor, kinds = replay(arrivals)
    assert kinds == ["detected", "restored"]
    (incident,) = monitor.incidents.incidents()
    assert not incident.evidence_gap


def test_a_feed_delivered_in_batches_is_not_silent_between_batches() -> None:
    kpis = [
        make_obs("svc", at=T0 + 60.0 * i, kind=Kind.KPI, status=None, source="scada",
                 metric="customers_reachable", value=1000.0)
        for i in range(60)
    ]  # fmt: skip
    # every 5 minutes of points arrive together; after T0 + 2400 the feed dies
    arrivals = [(T0 + 300.0 * (1 + (k.observed_at - T0) // 300.0), k) for k in kpis[:40]]
    arrivals += [(T0 + 15.0 * i + 1, probe(T0 + 15.0 * i)) for i in range(240)]
    monitor, kinds = replay(arrivals)
    assert kinds == ["detected"]  # only when the batches stop coming
    (incident,) = monitor.incidents.incidents()
    assert incident.detected_at > T0 + 2700.0
