"""Figures per failure class: recall, precision, time to detect, restore error, false incidents.

Every detected incident (not maintenance, not an annotated evidence gap) is attributed to one
class: the truth outage it overlaps (a true positive of that outage's kind), else the benign
episode it overlaps or follows within ``follow_s`` (a false incident of that benign class:
``blip``, ``stall``, ``evening``, ``vantage_dark``; a vantage's dark episode covers every
service it probes), else the truth outage it follows within ``follow_s`` (a false incident of
that outage's kind: restored too early and reopened, say), else ``unexplained``.

* truth classes: recall = outages overlapped by an incident / outages; precision = true
  positives / (true positives + false incidents attributed to the class); time to detect =
  ``detected_at`` of the first overlapping incident - true start; restore error = that
  incident's ``restored_at`` - true end (an incident still open at the end counts up to the
  scenario end);
* benign classes: precision = episodes that opened no incident / episodes (recall does not
  apply);
* false incidents per service-day over the whole scenario.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.incidents.model import Incident
from pipeline.indicators.stats import percentile
from pipeline.scenarios.model import Scenario, TruthIncident


@dataclass(slots=True)
class ClassFigures:
    """Counts and samples of one class (add runs up with :meth:`merge`)."""

    episodes: int = 0
    recalled: int = 0
    true_positives: int = 0
    false_incidents: int = 0
    episodes_with_incident: int = 0
    ttd_s: list[float] = field(default_factory=list)
    restore_error_s: list[float] = field(default_factory=list)

    def merge(self, other: ClassFigures) -> None:
        self.episodes += other.episodes
        self.recalled += other.recalled
        self.true_positives += other.true_positives
        self.false_incidents += other.false_incidents
        self.episodes_with_incident += other.episodes_with_incident
        self.ttd_s += other.ttd_s
        self.restore_error_s += other.restore_error_s

    def to_dict(self, benign: bool) -> dict[str, Any]:
        def med(xs: list[float]) -> float | None:
            return percentile(xs, 50) if xs else None

        def p90(xs: list[float]) -> float | None:
            return percentile(xs, 90) if xs else None

        if benign:
            left_alone = self.episodes - self.episodes_with_incident
            return {
                "episodes": self.episodes,
                "precision": left_alone / self.episodes if self.episodes else None,
                "recall": None,
                "false_incidents": self.false_incidents,
            }
        detected = self.true_positives + self.false_incidents
        errors = [abs(x) for x in self.restore_error_s]
        return {
            "episodes": self.episodes,
            "recall": self.recalled / self.episodes if self.episodes else None,
            "precision": self.true_positives / detected if detected else None,
            "false_incidents": self.false_incidents,
            "ttd_s_p50": med(self.ttd_s),
            "ttd_s_p90": p90(self.ttd_s),
            "restore_error_s_p50": med(errors),
            "restore_error_s_p90": p90(errors),
            "restore_error_signed_s_p50": med(self.restore_error_s),
        }


@dataclass(slots=True)
class ClassReport:
    """Per-class figures of one or more scenarios."""

    classes: dict[str, ClassFigures] = field(default_factory=dict)
    benign_kinds: set[str] = field(default_factory=set)
    unexplained: int = 0
    service_days: float = 0.0

    def merge(self, other: ClassReport) -> None:
        for k, v in other.classes.items():
            self.classes.setdefault(k, ClassFigures()).merge(v)
        self.benign_kinds |= other.benign_kinds
        self.unexplained += other.unexplained
        self.service_days += other.service_days

    @property
    def false_incidents(self) -> int:
        return self.unexplained + sum(c.false_incidents for c in self.classes.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "classes": {
                k: v.to_dict(k in self.benign_kinds) for k, v in sorted(self.classes.items())
            },
            "false_incidents": self.false_incidents,
            "unexplained_false_incidents": self.unexplained,
            "service_days": self.service_days,
            "false_incidents_per_service_day": (
                self.false_incidents / self.service_days if self.service_days else None
            ),
        }


def _overlaps(inc: Incident, start: float, end: float, until: float) -> bool:
    return inc.started_at <= end and inc.end_or(until) >= start


def score_classes(
    scenario: Scenario, incidents: list[Incident], follow_s: float = 1_800.0
) -> ClassReport:
    """Attribute ``incidents`` to the scenario's classes (see the module notes)."""
    end = scenario.end
    report = ClassReport(service_days=len(scenario.services) * (end - scenario.start) / 86_400.0)
    report.benign_kinds = {b.kind for b in scenario.benign}
    probed_from = {s.ref.service_id: set(s.vantages) for s in scenario.services}
    real = [i for i in incidents if not i.maintenance and not i.evidence_gap]
    by_service: dict[str, list[Incident]] = {}
    for i in real:
        by_service.setdefault(i.service_id, []).append(i)

    def fig(kind: str) -> ClassFigures:
        return report.classes.setdefault(kind, ClassFigures())

    for t in scenario.truth:
        f = fig(t.kind)
        f.episodes += 1
        hits = [i for i in by_service.get(t.service_id, []) if _overlaps(i, t.start, t.end, end)]
        if hits:
            first = min(hits, key=lambda i: i.detected_at)
            f.recalled += 1
            f.ttd_s.append(first.detected_at - t.start)
            f.restore_error_s.append(first.end_or(end) - t.end)
    for b in scenario.benign:
        fig(b.kind).episodes += 1

    def benign_for(i: Incident) -> list[TruthIncident]:
        return [
            b
            for b in scenario.benign
            if (b.service_id == i.service_id
                or (b.service_id == "*" and b.group in probed_from.get(i.service_id, ())))
            and i.started_at <= b.end + follow_s and i.end_or(end) >= b.start
        ]  # fmt: skip

    hit_benign: set[int] = set()
    for i in real:
        truths = [t for t in scenario.truth if t.service_id == i.service_id]
        overlapping = [t for t in truths if _overlaps(i, t.start, t.end, end)]
        if overlapping:
            fig(overlapping[0].kind).true_positives += 1
            continue
        benign = benign_for(i)
        if benign:
            fig(benign[0].kind).false_incidents += 1
            hit_benign.update(id(b) for b in benign)
            continue
        before = [t for t in truths if t.end <= i.started_at <= t.end + follow_s]
        if before:
            fig(before[-1].kind).false_incidents += 1
        else:
            report.unexplained += 1
    for b in scenario.benign:
        if id(b) in hit_benign:
            fig(b.kind).episodes_with_incident += 1
    return report


def format_classes(report: ClassReport) -> str:
    """A per-class table."""
    d = report.to_dict()

    def f(x: float | None, spec: str = ".3f") -> str:
        return "n/a" if x is None else format(x, spec)

    lines = [
        f"{'class':<17}{'episodes':>9}{'recall':>8}{'precision':>10}{'TTD p50':>9}"
        f"{'restore err p50':>16}{'false inc':>10}"
    ]
    for kind, c in d["classes"].items():
        lines.append(
            f"{kind:<17}{c['episodes']:>9}{f(c['recall']):>8}{f(c['precision']):>10}"
            f"{f(c.get('ttd_s_p50'), '.0f'):>9}{f(c.get('restore_error_s_p50'), '.0f'):>16}"
            f"{c['false_incidents']:>10}"
        )
    lines.append(
        f"false incidents: {d['false_incidents']} ({d['unexplained_false_incidents']} "
        f"unexplained) over {d['service_days']:.1f} service-days = "
        f"{f(d['false_incidents_per_service_day'], '.4f')} per service-day"
    )
    return "\n".join(lines)
