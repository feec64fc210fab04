"""Everything the worker decides about one service, from one observation or one clock tick.

A :class:`ServiceMonitor` is the whole per-service state (status, detectors, incidents) and
round-trips through a JSON-able dict for the changelog-backed table. :class:`Monitoring`
holds the parameters and the cross-service context (maintenance calendar, vantage health)
and folds evidence into a monitor:

* status (``pipeline.monitoring.status``): reports, heartbeats and silence set it directly; probe
  and level signals set it only through their detectors, so one flaky probe changes nothing;
* detectors (``pipeline.detection``): multi-vantage consensus, single-vantage hysteresis,
  level drop for counting signals, KPI anomaly scores for other metrics;
* incidents (``pipeline.incidents``): every failing or clearing conclusion becomes a verdict
  for the service's incident lifecycle; status changes by reports and silence are verdicts too.

>>> from pipeline.core.schema import Kind, Observation, Status
>>> monitoring = Monitoring(MonitorParams())
>>> obs = Observation(event_id="e1", operator_id="op", service_id="svc", sector="telecom",
...                   region="UA-30", kind=Kind.STATUS_REPORT, observed_at=100.0,
...                   source="t", status=Status.DOWN)
>>> monitor, result = monitoring.observe(None, obs, partition=0, now=101.0)
>>> [e.kind for e in result.incident_events], monitor.state.status.value
(['detected'], 'down')
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from pipeline.core.identity import ServiceRef
from pipeline.core.schema import Kind, Observation, Status
from pipeline.detection.blips import BlipPolicy
from pipeline.detection.consensus import ConsensusParams, ProbeConsensus
from pipeline.detection.kpi import ALARM_SCORE, KpiAnomalyDetector
from pipeline.detection.level_drop import LevelDrop, LevelDropParams
from pipeline.detection.single_probe import SingleProbe, SingleProbeParams
from pipeline.detection.vantage import VantageHealth
from pipeline.detection.verdict import Verdict
from pipeline.incidents.gaps import mark_evidence_gap
from pipeline.incidents.maintenance import MaintenanceCalendar
from pipeline.incidents.model import IncidentEvent
from pipeline.incidents.tracker import ServiceIncidents, TrackerParams
from pipeline.monitoring.liveness import PUSH, alive_class
from pipeline.monitoring.status import (
    Outcome,
    ServiceState,
    SilencePolicy,
    StatusChange,
    StatusTracker,
    assert_status,
    status_from_observation,
)

#: KPI metrics that count something alive: watched for level drops, not scored as anomalies.
LEVEL_METRICS: frozenset[str] = frozenset(
    {
        "vehicles_reporting",
        "cells_in_service",
        "sites_in_service",
        "endpoints_active",
        "customers_reachable",
        "feeders_energised",
    }
)

#: Verdict names for status changes that come straight from evidence or its absence.
REPORT = "report"
SILENCE = "silence"


@dataclass(frozen=True, slots=True)
class MonitorParams:
    """Detector and lifecycle settings shared by every service of a worker."""

    silence: SilencePolicy = field(default_factory=SilencePolicy)
    consensus: ConsensusParams = field(default_factory=ConsensusParams)
    single_probe: SingleProbeParams = field(default_factory=SingleProbeParams)
    level: LevelDropParams = field(default_factory=LevelDropParams)
    tracker: TrackerParams = field(default_factory=TrackerParams)
    level_metrics: frozenset[str] = LEVEL_METRICS
    #: KPI points scoring at least this are published as anomalies (a calibrated tail
    #: probability of 1e-6, one per episode: see pipeline.detection.kpi).
    anomaly_threshold: float = ALARM_SCORE
    #: How many failing probe rounds, per sector, before probes may open an incident.
    blips: BlipPolicy = field(default_factory=BlipPolicy)

    def consensus_for(self, sector: str) -> ConsensusParams:
        """Consensus parameters with the sector's blip policy."""
        return replace(self.consensus, confirm_rounds=self.blips.rounds_for(sector))

    def single_probe_for(self, sector: str) -> SingleProbeParams:
        """Single-vantage hysteresis with the sector's blip policy."""
        return replace(self.single_probe, open_after=self.blips.rounds_for(sector))


@dataclass(frozen=True, slots=True)
class Anomaly:
    """A KPI point that scored as anomalous."""

    service_id: str
    metric: str
    at: float
    value: float
    score: float
    event_id: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "kpi_anomaly",
            "service_id": self.service_id,
            "metric": self.metric,
            "at": self.at,
            "value": self.value,
            "score": self.score,
            "event_id": self.event_id,
        }


@dataclass(slots=True)
class MonitorResult:
    """What one step produced, for the caller to emit."""

    outcome: str = Outcome.APPLIED
    status_changes: list[StatusChange] = field(default_factory=list)
    incident_events: list[IncidentEvent] = field(default_factory=list)
    anomalies: list[Anomaly] = field(default_factory=list)


@dataclass(slots=True)
class ServiceMonitor:
    """All detection state of one service."""

    state: ServiceState
    incidents: ServiceIncidents
    consensus: ProbeConsensus | None = None
    single_probe: SingleProbe | None = None
    levels: dict[str, LevelDrop] = field(default_factory=dict)
    kpis: dict[str, KpiAnomalyDetector] = field(default_factory=dict)
    vantages: set[str] = field(default_factory=set)
    #: Input offset (in the service's partition) of the last observation applied: input read
    #: again after a restart is skipped up to it, since this state already holds its effect.
    applied_through: int | None = None

    @property
    def ref(self) -> ServiceRef:
        s = self.state
        return ServiceRef(s.service_id, s.operator_id, s.sector, s.region, s.customers_served)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "state": self.state.to_dict(),
            "incidents": self.incidents.to_dict(),
            "vantages": sorted(self.vantages),
        }
        # Absent parts are left out (from_dict reads them as absent): less per record.
        if self.consensus:
            data["consensus"] = self.consensus.to_dict()
        if self.single_probe:
            data["single_probe"] = self.single_probe.to_dict()
        if self.levels:
            data["levels"] = {m: d.to_dict() for m, d in self.levels.items()}
        if self.kpis:
            data["kpis"] = {m: d.to_dict() for m, d in self.kpis.items()}
        if self.applied_through is not None:
            data["applied_through"] = self.applied_through
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], params: MonitorParams) -> ServiceMonitor:
        data = upgrade_stored(data)
        state = ServiceState.from_dict(data["state"])
        single = data.get("single_probe")
        return cls(
            state=state,
            incidents=ServiceIncidents.from_dict(data["incidents"]),
            consensus=ProbeConsensus.from_dict(data["consensus"])
            if data.get("consensus")
            else None,
            single_probe=(
                SingleProbe.from_dict(
                    state.service_id, single, params.single_probe_for(state.sector)
                )
                if single
                else None
            ),
            levels={m: LevelDrop.from_dict(d) for m, d in data.get("levels", {}).items()},
            kpis={m: KpiAnomalyDetector.from_dict(d) for m, d in data.get("kpis", {}).items()},
            vantages=set(data.get("vantages", ())),
            applied_through=data.get("applied_through"),
        )


def _report_restores(obs: Observation, monitor: ServiceMonitor) -> bool:
    """An operator or outage-map report saying the service is fine, while reports hold an
    outage open."""
    return (
        obs.kind in (Kind.STATUS_REPORT, Kind.OUTAGE_REPORT)
        and status_from_observation(obs) is Status.UP
        and REPORT in monitor.incidents.asserting
    )


def upgrade_stored(data: dict[str, Any]) -> dict[str, Any]:
    """Bring a stored monitor dict written by an older worker up to the current layout.

    Before detectors and incidents, a table value was the bare ``ServiceState`` dict; a
    worker upgraded in place recovers those from the changelog and must keep them.
    """
    if "state" in data:
        return data
    state = {"reason": "evidence", **data}
    return {"state": state, "incidents": ServiceIncidents(state["service_id"]).to_dict()}


class Monitoring:
    """Folds observations and clock ticks into :class:`ServiceMonitor` state."""

    def __init__(
        self,
        params: MonitorParams,
        calendar: MaintenanceCalendar | None = None,
        vantage_health: VantageHealth | None = None,
    ) -> None:
        self.params = params
        self.calendar = calendar or MaintenanceCalendar()
        self.tracker = StatusTracker(params.silence)
        # Cross-service view of vantage points, local to this worker: a sample of services
        # is enough to see that a vantage itself is broken.
        self.vantage_health = vantage_health or VantageHealth()
        # per-sector detector parameters, built once (dataclasses.replace per new detector
        # showed in the processor's profile)
        self._consensus_params: dict[str, ConsensusParams] = {}
        self._single_probe_params: dict[str, SingleProbeParams] = {}

    def observe(
        self, monitor: ServiceMonitor | None, obs: Observation, *, partition: int, now: float
    ) -> tuple[ServiceMonitor, MonitorResult]:
        """Apply one validated observation; ``now`` is processing time (for detected_at)."""
        is_probe = obs.kind is Kind.PROBE and obs.status is not None
        # Probes only prove liveness to the status tracker (when they succeed); whether the
        # service is down is the detectors' call, so a failed probe changes nothing by itself.
        previous = monitor.state if monitor else None
        # The monitor's state is updated in place (a new one per observation was ≈ 3 µs);
        # ``previous`` is then the same object, which _status_verdicts reads only for a
        # silence (never the reason of an observation's change).
        state, change, outcome = self.tracker.observe(
            previous, obs, partition=partition, asserts=not is_probe, now=now, in_place=True
        )
        result = MonitorResult(outcome=outcome)
        if monitor is None:
            monitor = ServiceMonitor(state=state, incidents=ServiceIncidents(obs.service_id))
        else:
            monitor.state = state
        incidents = monitor.incidents
        if (
            (incidents.open is not None or incidents.closed)  # none ever: no gap to mark
            and outcome != Outcome.DUPLICATE
            and alive_class(obs) == PUSH
        ):
            # backlog of a stalled feed: the silence may have been a gap in delivery
            result.incident_events.extend(mark_evidence_gap(incidents, obs.observed_at))
        if outcome in (Outcome.DUPLICATE, Outcome.LATE):
            return monitor, result
        verdicts: list[Verdict] = []
        if change is not None:
            result.status_changes.append(change)
            verdicts.extend(self._status_verdicts(change, previous, obs.event_id))
        elif outcome == Outcome.APPLIED and _report_restores(obs, monitor):
            # A late report that restores still restores: it is in order for its own signal
            # even when newer evidence of other signals already set the status.
            verdicts.append(
                Verdict(
                    obs.service_id,
                    REPORT,
                    Status.UP,
                    obs.observed_at,
                    obs.observed_at,
                    (obs.event_id,),
                )
            )
        if is_probe:
            verdicts.extend(self._probe(monitor, obs, result))
        elif obs.kind is Kind.KPI and obs.value is not None and outcome == Outcome.APPLIED:
            verdicts.extend(self._kpi(monitor, obs, result))
        if obs.kind in (Kind.STATUS_REPORT, Kind.OUTAGE_REPORT):
            result.incident_events.extend(monitor.incidents.on_status_report(obs))
        for verdict in verdicts:
            self._apply(monitor, verdict, result, now)
        return monitor, result

    def check(self, monitor: ServiceMonitor, *, now: float) -> MonitorResult:
        """Clock-driven checks: silence and maintenance windows ending. Mutates ``monitor``."""
        result = MonitorResult()
        previous = monitor.state
        monitor.state, change = self.tracker.check_silence(previous, now=now)
        if change is not None:
            result.status_changes.append(change)
            for verdict in self._status_verdicts(change, previous, None):
                self._apply(monitor, verdict, result, now)
        result.incident_events.extend(
            monitor.incidents.tick(now, self.calendar, self.params.tracker)
        )
        return result

    def check_deadline(self, monitor: ServiceMonitor) -> float | None:
        """Clock time from which :meth:`check` could change something, or None for never
        (until new evidence): the silence deadline, or 0 while a maintenance window that
        holds an outage is open (its end is looked up in the calendar on every check)."""
        if monitor.incidents.maintenance_open is not None:
            return 0.0
        return self.tracker.silence_deadline(monitor.state)

    def stored_check_deadline(self, stored: dict[str, Any]) -> float | None:
        """:meth:`check_deadline` read off a stored monitor dict (``ServiceMonitor.to_dict``)
        without deserialising it, for scans over every stored service."""
        stored = upgrade_stored(stored)
        if stored["incidents"].get("maintenance_open") is not None:
            return 0.0
        return self.tracker.stored_silence_deadline(stored["state"])

    def monitor_needs_check(self, monitor: ServiceMonitor, now: float) -> bool:
        """Whether :meth:`check` could change anything now (the offline replay's filter)."""
        deadline = self.check_deadline(monitor)
        return deadline is not None and now >= deadline

    def acknowledge(
        self, monitor: ServiceMonitor, *, at: float, method: str, by: str
    ) -> list[IncidentEvent]:
        """Acknowledge the open incident of this service (CLI/API)."""
        return monitor.incidents.acknowledge(at, method, by)

    def _apply(
        self, monitor: ServiceMonitor, verdict: Verdict, result: MonitorResult, now: float
    ) -> None:
        incidents = monitor.incidents
        if not verdict.failing and verdict.detector not in incidents.asserting:
            # Clears what no outage of that detector holds: ServiceIncidents.apply would
            # return nothing and change nothing (every first sighting and recovery makes
            # two of these; the ServiceRef alone showed in the profile).
            return
        result.incident_events.extend(
            incidents.apply(
                verdict, monitor.ref, self.calendar, self.params.tracker, now=max(now, verdict.at)
            )
        )

    def _status_verdicts(
        self, change: StatusChange, previous: ServiceState | None, event_id: str | None
    ) -> list[Verdict]:
        """Status moves by reports or silence are verdicts for the incident lifecycle."""
        evidence = (event_id,) if event_id else ()
        if change.current in (Status.DOWN, Status.DEGRADED) and change.reason in (
            "evidence",
            SILENCE,
        ):
            detector = SILENCE if change.reason == SILENCE else REPORT
            started = change.at
            if detector == SILENCE and previous is not None:
                # The outage began when the first expected report did not come.
                started = previous.alive_at + previous.expected_interval
            return [
                Verdict(
                    change.service_id,
                    detector,
                    change.current,
                    at=change.at,
                    started_at=min(started, change.at),
                    evidence_ids=evidence,
                    customers_affected=change.customers_affected,
                    detail=f"status {change.current.value} by {change.reason}",
                )
            ]
        if change.current in (Status.UP, Status.MAINTENANCE):
            # Clears whichever of the two asserted; the tracker ignores the other.
            return [
                Verdict(change.service_id, name, Status.UP, change.at, change.at, evidence)
                for name in (REPORT, SILENCE)
            ]
        return []

    def _probe(
        self, monitor: ServiceMonitor, obs: Observation, result: MonitorResult
    ) -> list[Verdict]:
        ok = obs.status in (Status.UP, Status.DEGRADED)
        vantage = obs.vantage or "default"
        monitor.vantages.add(vantage)
        self.vantage_health.observe(obs.observed_at, vantage, ok)
        if len(monitor.vantages) >= self.params.consensus.min_vantages:
            if monitor.consensus is None:
                # The probe interval is learned from the probes themselves (not the
                # service's heartbeat interval); a probe may declare it.
                declared = obs.attrs.get("probe_interval_s")
                params = self._consensus_params.get(obs.sector)
                if params is None:
                    params = self.params.consensus_for(obs.sector)
                    self._consensus_params[obs.sector] = params
                if isinstance(declared, int | float) and declared > 0:
                    params = replace(params, interval_s=float(declared))
                monitor.consensus = ProbeConsensus(obs.service_id, params)
            verdict = monitor.consensus.observe(
                obs.observed_at,
                vantage,
                ok,
                obs.event_id,
                self.vantage_health.impaired(obs.observed_at),
            )
        else:
            if monitor.single_probe is None:
                single = self._single_probe_params.get(obs.sector)
                if single is None:
                    single = self.params.single_probe_for(obs.sector)
                    self._single_probe_params[obs.sector] = single
                monitor.single_probe = SingleProbe(obs.service_id, single)
            verdict = monitor.single_probe.observe(obs.observed_at, ok, obs.event_id)
        return self._detector_status(monitor, verdict, result)

    def _kpi(
        self, monitor: ServiceMonitor, obs: Observation, result: MonitorResult
    ) -> list[Verdict]:
        metric = obs.metric or "value"
        value = obs.value
        assert value is not None
        if metric in self.params.level_metrics:
            detector = monitor.levels.get(metric)
            if detector is None:
                detector = monitor.levels[metric] = LevelDrop(obs.service_id, self.params.level)
            return self._detector_status(
                monitor, detector.observe(obs.observed_at, value, obs.event_id), result
            )
        scorer = monitor.kpis.get(metric)
        if scorer is None:
            scorer = monitor.kpis[metric] = KpiAnomalyDetector()
        score = scorer.score(obs.observed_at, value)
        if score >= self.params.anomaly_threshold:
            result.anomalies.append(
                Anomaly(obs.service_id, metric, obs.observed_at, value, score, obs.event_id)
            )
        return []

    def _detector_status(
        self, monitor: ServiceMonitor, verdict: Verdict | None, result: MonitorResult
    ) -> list[Verdict]:
        """A detector's conclusion also sets the service status (for dashboards)."""
        if verdict is None:
            return []
        monitor.state, change = assert_status(
            monitor.state,
            verdict.state,
            at=verdict.at,
            reason=verdict.detector,
            event_id=verdict.evidence_ids[-1] if verdict.evidence_ids else None,
        )
        if change is None:
            return [verdict]
        result.status_changes.append(change)
        if change.current is Status.UP and REPORT in monitor.incidents.asserting:
            # The detector that saw the outage sees the service up again: a report that
            # joined that outage ends with it (none may ever say "restored"). Silence is left
            # to push evidence, so a probe cannot end a frozen feed's outage.
            return [verdict, replace(verdict, detector=REPORT, detail="outage seen cleared")]
        return [verdict]
