"""The detectors and the incident tracker wired together, as the stream workers wire them.

One :class:`Replayer` per run: observations go in (in arrival order, duplicates and late ones
included); incident events and concurrent-disruption findings come out. Event time drives
everything: the watermark is the largest ``observed_at`` seen, silence and maintenance
overruns are checked every ``check_every_s`` of watermark, ``lateness_s`` behind it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.core.schema import Kind, Observation, Status
from pipeline.detection.consensus import ConsensusParams, ProbeConsensus
from pipeline.detection.correlation import DisruptionCorrelator, Finding, Span
from pipeline.detection.dedup import RecentIds
from pipeline.detection.kpi import KpiAnomalyDetector
from pipeline.detection.level_drop import LevelDrop, LevelDropParams
from pipeline.detection.silence import SilenceDetector
from pipeline.detection.vantage import VantageHealth
from pipeline.detection.verdict import Verdict
from pipeline.incidents.maintenance import MaintenanceCalendar
from pipeline.incidents.model import Incident, IncidentEvent
from pipeline.incidents.tracker import IncidentTracker, TrackerParams
from pipeline.scenarios.model import ServiceSpec


@dataclass(frozen=True, slots=True)
class ReplayParams:
    """Detector settings used by the replay (the shipped defaults unless overridden)."""

    consensus: ConsensusParams = field(default_factory=ConsensusParams)
    level: LevelDropParams = field(default_factory=LevelDropParams)
    tracker: TrackerParams = field(default_factory=TrackerParams)
    heartbeat_interval_s: float = 30.0
    silence_unknown_after: float = 2.0
    silence_down_after: float = 3.0
    lateness_s: float = 5.0
    check_every_s: float = 5.0
    correlation_window_s: float = 900.0


class Replayer:
    """Feeds observations through dedup -> detectors -> tracker -> correlator."""

    def __init__(
        self,
        services: list[ServiceSpec],
        calendar: MaintenanceCalendar,
        params: ReplayParams | None = None,
    ) -> None:
        self.params = p = params or ReplayParams()
        self.specs = {s.ref.service_id: s for s in services}
        self.seen = {sid: RecentIds(1_024) for sid in self.specs}
        self.consensus = {sid: ProbeConsensus(sid, p.consensus) for sid in self.specs}
        self.silence = {
            s.ref.service_id: SilenceDetector(
                s.ref.service_id,
                p.heartbeat_interval_s,
                p.silence_unknown_after,
                p.silence_down_after,
            )
            for s in services
            if s.heartbeat
        }
        self.level = {
            s.ref.service_id: LevelDrop(s.ref.service_id, p.level)
            for s in services
            if s.level_metric
        }
        self.kpi = {s.ref.service_id: KpiAnomalyDetector() for s in services if s.kpi_metric}
        self.vantages = VantageHealth()
        self.tracker = IncidentTracker(calendar, p.tracker)
        self.correlator = DisruptionCorrelator(p.correlation_window_s)
        self.events: list[IncidentEvent] = []
        self.findings: list[Finding] = []
        self.kpi_scores: list[tuple[str, float, float]] = []  # (service, time, score)
        self.watermark = float("-inf")
        self._next_check = float("-inf")
        self.duplicates = 0

    def process(self, obs: Observation) -> None:
        """Handle one observation (in arrival order)."""
        sid = obs.service_id
        if sid not in self.specs or not self.seen[sid].add(obs.event_id):
            self.duplicates += 1
            return
        if obs.observed_at > self.watermark:
            self.watermark = obs.observed_at
            if self.watermark >= self._next_check:
                self.advance(self.watermark - self.params.lateness_s)
                self._next_check = self.watermark + self.params.check_every_s
        verdict: Verdict | None = None
        spec = self.specs[sid]
        if obs.kind is Kind.PROBE and obs.vantage is not None:
            ok = obs.status in (Status.UP, Status.DEGRADED)
            self.vantages.observe(obs.observed_at, obs.vantage, ok)
            impaired = self.vantages.impaired(self.watermark)
            verdict = self.consensus[sid].observe(
                obs.observed_at, obs.vantage, ok, obs.event_id, impaired
            )
        elif obs.kind is Kind.HEARTBEAT and sid in self.silence:
            verdict = self.silence[sid].observe(obs.observed_at, obs.event_id)
        elif obs.kind is Kind.KPI and obs.value is not None:
            if obs.metric == spec.level_metric:
                verdict = self.level[sid].observe(obs.observed_at, obs.value, obs.event_id)
            elif obs.metric == spec.kpi_metric:
                score = self.kpi[sid].score(obs.observed_at, obs.value)
                self.kpi_scores.append((sid, obs.observed_at, score))
        elif obs.kind in (Kind.STATUS_REPORT, Kind.OUTAGE_REPORT):
            self._emit(self.tracker.on_status_report(obs))
        if verdict is not None:
            self._emit(self.tracker.on_verdict(verdict, spec.ref, now=self.watermark))

    def advance(self, now: float) -> None:
        """Clock-driven checks at event time ``now``."""
        for sid, det in self.silence.items():
            v = det.check(now)
            if v is not None:
                self._emit(self.tracker.on_verdict(v, self.specs[sid].ref, now=self.watermark))
        self._emit(self.tracker.tick(now))

    def _emit(self, events: list[IncidentEvent]) -> None:
        for e in events:
            self.events.append(e)
            if e.incident.maintenance or e.kind not in ("detected", "restored", "reopened"):
                continue
            i = e.incident
            span = Span(
                i.incident_id,
                i.service_id,
                i.service.operator_id,
                i.service.sector,
                i.service.region,
                i.started_at,
                i.restored_at,
            )
            self.findings.extend(self.correlator.observe(span))

    def incidents(self) -> list[Incident]:
        """Every incident the tracker holds (maintenance records included)."""
        return self.tracker.incidents()
