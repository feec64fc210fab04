"""Replay labelled scenarios through the real detectors and score them against the truth.

Matching is by overlap, per service: a detected (non-maintenance) incident is a true positive
when ``[started_at, restored_at or end]`` overlaps a truth interval of the same service;
precision = true positives / detected, recall = truth intervals overlapped by some detected
incident / truth intervals. Time to detect = ``detected_at`` of the first overlapping incident
minus the *true* start (so it includes the corroboration the detectors wait for). Regional
events are recalled when one finding holds incidents of at least two of their services.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pipeline.detection.kpi import ALARM_SCORE
from pipeline.incidents.maintenance import MaintenanceCalendar
from pipeline.incidents.model import Incident
from pipeline.indicators.stats import percentile
from pipeline.scenarios.classes import ClassReport, format_classes, score_classes
from pipeline.scenarios.extended import generate_extended
from pipeline.scenarios.generator import ScenarioConfig, generate
from pipeline.scenarios.model import Scenario, TruthIncident
from pipeline.scenarios.replay import Replayer, ReplayParams
from pipeline.scenarios.worker_replay import WorkerReplay

DEFAULT_SEEDS: tuple[int, ...] = (1, 2, 3)
_COUNTERS = (
    "truth",
    "recalled",
    "detected",
    "true_positive",
    "maintenance_outages",
    "maintenance_recorded",
    "regional_events",
    "regional_recalled",
    "findings",
)


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


@dataclass(slots=True)
class Evaluation:
    """Counts and delays of one or more scenario runs (add them up with :meth:`merge`)."""

    seeds: list[int] = field(default_factory=list)
    probe_interval_s: float = 60.0
    truth: int = 0
    recalled: int = 0
    detected: int = 0
    true_positive: int = 0
    ttd_s: list[float] = field(default_factory=list)
    start_error_s: list[float] = field(default_factory=list)
    restore_lag_s: list[float] = field(default_factory=list)
    by_kind: dict[str, list[int]] = field(default_factory=dict)  # kind -> [truth, recalled]
    ttd_by_kind: dict[str, list[float]] = field(default_factory=dict)
    maintenance_outages: int = 0
    maintenance_recorded: int = 0
    regional_events: int = 0
    regional_recalled: int = 0
    findings: int = 0
    kpi_in_outage: list[int] = field(default_factory=lambda: [0, 0])  # [points, flagged]
    kpi_outside: list[int] = field(default_factory=lambda: [0, 0])
    missed: list[dict[str, Any]] = field(default_factory=list)
    false_positives: list[dict[str, Any]] = field(default_factory=list)
    classes: ClassReport = field(default_factory=ClassReport)

    @property
    def precision(self) -> float:
        """True positives / detected incidents (1.0 when nothing was detected)."""
        return self.true_positive / self.detected if self.detected else 1.0

    @property
    def recall(self) -> float:
        """Truth incidents found / truth incidents (1.0 when there was nothing to find)."""
        return self.recalled / self.truth if self.truth else 1.0

    def merge(self, other: Evaluation) -> None:
        """Add another run's figures to this one."""
        for name in _COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.seeds += other.seeds
        self.ttd_s += other.ttd_s
        self.start_error_s += other.start_error_s
        self.restore_lag_s += other.restore_lag_s
        for k, (t, r) in other.by_kind.items():
            cur = self.by_kind.setdefault(k, [0, 0])
            cur[0] += t
            cur[1] += r
        for k, v in other.ttd_by_kind.items():
            self.ttd_by_kind.setdefault(k, []).extend(v)
        for i in range(2):
            self.kpi_in_outage[i] += other.kpi_in_outage[i]
            self.kpi_outside[i] += other.kpi_outside[i]
        self.missed += other.missed
        self.false_positives += other.false_positives
        self.classes.merge(other.classes)

    def to_dict(self) -> dict[str, Any]:
        """Headline figures as JSON-able data."""

        def dist(xs: list[float]) -> dict[str, float | None]:
            if not xs:
                return {"count": 0, "mean": None, "p50": None, "p90": None, "max": None}
            return {
                "count": len(xs),
                "mean": sum(xs) / len(xs),
                "p50": percentile(xs, 50),
                "p90": percentile(xs, 90),
                "max": max(xs),
            }

        return {
            "seeds": self.seeds,
            "precision": self.precision,
            "recall": self.recall,
            "truth_incidents": self.truth,
            "recalled": self.recalled,
            "detected_incidents": self.detected,
            "true_positives": self.true_positive,
            "probe_interval_s": self.probe_interval_s,
            "ttd_s": dist(self.ttd_s),
            "ttd_probe_intervals_p50": (
                percentile(self.ttd_s, 50) / self.probe_interval_s if self.ttd_s else None
            ),
            "ttd_by_kind_s": {k: dist(v) for k, v in sorted(self.ttd_by_kind.items())},
            "recall_by_kind": {k: _ratio(r, t) for k, (t, r) in sorted(self.by_kind.items())},
            "start_error_s": dist(self.start_error_s),
            "restore_lag_s": dist(self.restore_lag_s),
            "maintenance_outages": self.maintenance_outages,
            "maintenance_recorded_separately": self.maintenance_recorded,
            "regional_events": self.regional_events,
            "regional_events_correlated": self.regional_recalled,
            "concurrent_disruption_findings": self.findings,
            "kpi_flag_rate_in_outages": _ratio(self.kpi_in_outage[1], self.kpi_in_outage[0]),
            "kpi_flag_rate_outside": _ratio(self.kpi_outside[1], self.kpi_outside[0]),
            "per_class": self.classes.to_dict(),
            "missed": self.missed,
            "false_positives": self.false_positives,
        }


def _overlaps(inc: Incident, t: TruthIncident, end: float) -> bool:
    return inc.started_at <= t.end and inc.end_or(end) >= t.start


def score(
    scenario: Scenario, runner: Replayer | WorkerReplay, kpi_threshold: float = ALARM_SCORE
) -> Evaluation:
    """Compare what ``runner`` found with the scenario's truth."""
    end = scenario.end
    ev = Evaluation(seeds=[scenario.seed], probe_interval_s=scenario.probe_interval_s)
    incidents = runner.incidents()
    # an evidence gap (a stalled feed's silence, backfilled) is on record but claims no outage
    real = [i for i in incidents if not i.maintenance and not i.evidence_gap]
    by_service: dict[str, list[Incident]] = {}
    for i in real:
        by_service.setdefault(i.service_id, []).append(i)
    truth_by_service: dict[str, list[TruthIncident]] = {}
    for t in scenario.truth:
        truth_by_service.setdefault(t.service_id, []).append(t)
    matched_incident: dict[int, Incident] = {}
    for idx, t in enumerate(scenario.truth):
        hits = [i for i in by_service.get(t.service_id, []) if _overlaps(i, t, end)]
        kind = ev.by_kind.setdefault(t.kind, [0, 0])
        kind[0] += 1
        ev.truth += 1
        if not hits:
            ev.missed.append(t.to_dict())
            continue
        first = min(hits, key=lambda i: i.detected_at)
        matched_incident[idx] = first
        ev.recalled += 1
        kind[1] += 1
        ev.ttd_s.append(first.detected_at - t.start)
        ev.ttd_by_kind.setdefault(t.kind, []).append(first.detected_at - t.start)
        ev.start_error_s.append(first.started_at - t.start)
        if first.restored_at is not None:
            ev.restore_lag_s.append(first.restored_at - t.end)
    ev.detected = len(real)
    for i in real:
        if any(_overlaps(i, t, end) for t in truth_by_service.get(i.service_id, [])):
            ev.true_positive += 1
        else:
            ev.false_positives.append(i.to_dict())
    maint = [i for i in incidents if i.maintenance]
    ev.maintenance_outages = len(scenario.maintenance_outages)
    ev.maintenance_recorded = sum(
        1
        for t in scenario.maintenance_outages
        if any(i.service_id == t.service_id and _overlaps(i, t, end) for i in maint)
    )
    groups: dict[str, list[int]] = {}
    for idx, t in enumerate(scenario.truth):
        if t.group:
            groups.setdefault(t.group, []).append(idx)
    finding_sets = [set(f.incident_ids) for f in runner.findings]
    ev.findings = len({f.finding_id for f in runner.findings})
    for members in groups.values():
        ids = {matched_incident[m].incident_id for m in members if m in matched_incident}
        if len(members) < 2:
            continue
        ev.regional_events += 1
        if any(len(ids & fs) >= 2 for fs in finding_sets):
            ev.regional_recalled += 1
    for sid, at, s in runner.kpi_scores:
        inside = any(t.start <= at < t.end for t in truth_by_service.get(sid, []))
        bucket = ev.kpi_in_outage if inside else ev.kpi_outside
        bucket[0] += 1
        bucket[1] += s >= kpi_threshold
    ev.classes = score_classes(scenario, incidents)
    return ev


def replay(scenario: Scenario, params: ReplayParams | None = None) -> Replayer:
    """Run a scenario through the detectors and tracker."""
    p = params or ReplayParams(heartbeat_interval_s=scenario.heartbeat_interval_s)
    runner = Replayer(scenario.services, MaintenanceCalendar(scenario.maintenance), p)
    for obs in scenario.observations:
        runner.process(obs)
    runner.advance(scenario.end)
    return runner


def replay_as_worker(scenario: Scenario) -> WorkerReplay:
    """Run a scenario through the worker's own wiring (pipeline.monitoring.monitor)."""
    runner = WorkerReplay(
        MaintenanceCalendar(scenario.maintenance),
        heartbeat_interval_s=scenario.heartbeat_interval_s,
    )
    for obs in scenario.observations:
        runner.process(obs)
    runner.advance(scenario.end)
    return runner


ENGINES = ("replayer", "worker")
SUITES = ("base", "extended")


def evaluate(
    seeds: Iterable[int] = DEFAULT_SEEDS,
    config: ScenarioConfig | None = None,
    engine: str = "replayer",
    suite: str = "base",
    progress: Callable[[int], None] | None = None,
) -> Evaluation:
    """Generate, replay and score one scenario per seed; figures are pooled over seeds.

    ``engine``: ``replayer`` (the detectors as designed for evaluation) or ``worker`` (exactly
    the worker's per-message and per-tick wiring; slower, and it keeps only KPI scores at
    or above the anomaly threshold, so its KPI score shares are not comparable).
    ``suite``: ``base`` (the original generator) or ``extended`` (plus the failure classes of
    :mod:`pipeline.scenarios.extended`; worker engine only: its services are wired by what
    they send, not declared to the replayer). ``progress`` is called after each seed.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}")
    if suite not in SUITES:
        raise ValueError(f"suite must be one of {SUITES}")
    if suite == "extended" and engine != "worker":
        raise ValueError("the extended suite runs on the worker engine (--engine worker)")
    total = Evaluation()
    base = config or ScenarioConfig()
    for seed in seeds:
        cfg = _with_seed(base, seed)
        sc = generate_extended(cfg) if suite == "extended" else generate(cfg)
        total.probe_interval_s = sc.probe_interval_s
        runner = replay(sc) if engine == "replayer" else replay_as_worker(sc)
        total.merge(score(sc, runner))
        if progress is not None:
            progress(seed)
    return total


def _with_seed(cfg: ScenarioConfig, seed: int) -> ScenarioConfig:
    from dataclasses import replace

    return replace(cfg, seed=seed)


def format_report(ev: Evaluation) -> str:
    """Human-readable summary."""
    d = ev.to_dict()
    ttd = d["ttd_s"]

    def f(x: float | None, spec: str = ".1f") -> str:
        return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)

    lines = [
        f"scenarios (seeds): {', '.join(map(str, ev.seeds))}",
        f"precision: {ev.precision:.4f}  ({ev.true_positive}/{ev.detected} detected incidents)",
        f"recall:    {ev.recall:.4f}  ({ev.recalled}/{ev.truth} truth incidents)",
        f"time to detect (s): median {f(ttd['p50'])}  p90 {f(ttd['p90'])}  "
        f"mean {f(ttd['mean'])}  max {f(ttd['max'])}  "
        f"(median = {f(d['ttd_probe_intervals_p50'], '.2f')} probe intervals "
        f"of {ev.probe_interval_s:.0f} s)",
    ]
    for kind, dist in d["ttd_by_kind_s"].items():
        lines.append(
            f"  {kind:<9} recall {f(d['recall_by_kind'][kind], '.3f')}  "
            f"TTD median {f(dist['p50'])} s  p90 {f(dist['p90'])} s"
        )
    lines += [
        f"start error (s): median {f(d['start_error_s']['p50'])}  "
        f"restore lag (s): median {f(d['restore_lag_s']['p50'])} "
        f"p90 {f(d['restore_lag_s']['p90'])}",
        f"maintenance outages recorded separately: {ev.maintenance_recorded}/"
        f"{ev.maintenance_outages}",
        f"regional events correlated: {ev.regional_recalled}/{ev.regional_events} "
        f"({ev.findings} concurrent-disruption findings)",
        f"KPI alarms: {f(d['kpi_flag_rate_in_outages'], '.3f')} of points in outages, "
        f"{f(d['kpi_flag_rate_outside'], '.4f')} outside",
    ]
    lines += ["per class:", format_classes(ev.classes)]
    return "\n".join(lines)
