"""The extended suite: failure classes that detection once got wrong, on services of their own.

:func:`extend` adds, per region, services that each exercise some classes, on top of a base
scenario (whose services, evidence and truth are unchanged, so the old figures stay
comparable). Truth kinds (outages to find):

* ``late_reports``: a grid outage seen only by an outage map (``outage_report`` with customer
  counts, "0 out" at the end) delivered 1-3 min late, after newer probes, and by reachable
  customers delivered in 5-minute batches;
* ``diurnal``: a full outage of a transport fleet whose vehicle count falls every evening
  (20:00-23:30 UTC to 15 %); half of them are placed in that evening fall;
* ``frozen``: a push feed (30 s heartbeats) that freezes for 16-60 min; the connector reports
  ``unknown`` every 5 min while probes of the web front keep succeeding;
* ``hb30_partial``: a partial outage (50-85 % of probes fail, heartbeats go on) of a service
  with declared 30 s heartbeats and 60 s probes;
* ``partial_regional``: the same, on three services of one region at once.

Benign episodes (must not become incidents; ``Scenario.benign``):

* ``blip``: every probe of a service fails for 20-100 s (under two probe intervals);
* ``stall``: a push feed stalls for 4-12 min, then delivers its backlog;
* ``evening``: the daily evening fall of the fleet counts (20:00-23:30 UTC);
* ``vantage_dark``: a vantage failing for everything (from the base scenario).

>>> from pipeline.scenarios.generator import ScenarioConfig
>>> sc = generate_extended(ScenarioConfig(seed=2, duration_s=12 * 3600.0, regions=("UA-30",)))
>>> {t.kind for t in sc.truth} >= {"late_reports", "frozen"}
True
>>> {b.kind for b in sc.benign} >= {"blip", "stall"}
True
"""

from __future__ import annotations

import heapq
import math
from dataclasses import replace
from typing import Any

import numpy as np

from pipeline.core.schema import Kind, Observation, Status
from pipeline.incidents.model import ServiceRef
from pipeline.scenarios.generator import (
    DAY,
    HOUR,
    MINUTE,
    ScenarioConfig,
    _Emitter,
    _state,
    generate,
)
from pipeline.scenarios.model import Scenario, ServiceSpec, TruthIncident

TRUTH_KINDS = ("late_reports", "diurnal", "frozen", "hb30_partial", "partial_regional")
BENIGN_KINDS = ("blip", "stall", "evening", "vantage_dark")
HB = 30.0  # declared heartbeat interval of the new push services
MARGIN = 2 * HOUR  # detectors learn first


def generate_extended(cfg: ScenarioConfig | None = None) -> Scenario:
    """The base scenario of ``cfg`` plus the extended classes (deterministic from the seed)."""
    cfg = cfg or ScenarioConfig()
    return extend(generate(cfg), cfg)


class _Plan:
    """Non-overlapping episodes per service, 30 min apart."""

    def __init__(self, rng: np.random.Generator, start: float, end: float) -> None:
        self.rng, self.start, self.end = rng, start, end
        self.busy: dict[str, list[tuple[float, float]]] = {}

    def free(self, sid: str, s: float, e: float) -> bool:
        return all(
            e + 30 * MINUTE <= bs or s >= be + 30 * MINUTE for bs, be in self.busy.get(sid, [])
        )

    def take(self, sid: str, s: float, e: float) -> bool:
        if s < self.start + MARGIN or e > self.end - 30 * MINUTE or not self.free(sid, s, e):
            return False
        self.busy.setdefault(sid, []).append((s, e))
        return True

    def random(self, sid: str, n: int, lo: float, hi: float, kind: str) -> list[TruthIncident]:
        out: list[TruthIncident] = []
        for _ in range(n * 4):
            if len(out) >= n:
                break
            s = float(self.rng.uniform(self.start + MARGIN, self.end - hi - 30 * MINUTE))
            e = s + float(self.rng.uniform(lo, hi))
            if self.take(sid, s, e):
                out.append(TruthIncident(sid, s, e, kind, 1.0))
        return out


def extend(base: Scenario, cfg: ScenarioConfig) -> Scenario:
    """``base`` with the extended services, their evidence, truth and benign episodes."""
    rng = np.random.default_rng(cfg.seed + 10_007)
    start, end = base.start, base.end
    days = (end - start) / DAY
    plan = _Plan(rng, start, end)
    dark = [(b.group, b.start, b.end) for b in base.benign if b.kind == "vantage_dark"]
    em = _Emitter(replace(cfg, late_share=0.0, duplicate_share=0.005), rng)
    services: list[ServiceSpec] = []
    truth: list[TruthIncident] = []
    benign: list[TruthIncident] = []
    vantages = cfg.vantages
    per_day = max(1, round(2 * days))
    for region in cfg.regions:
        r = region.lower()
        grid = _spec(f"energy.{r}.grid", "ene-grid", "energy", region, 50_000, vantages[:3])
        fleet = _spec(f"transport.{r}.fleet", "tra-fleet", "transport", region, 800, vantages)
        feed = _spec(f"health.{r}.feed", "hea-feed", "health", region, 2_000, vantages)
        cells = [
            _spec(f"telecom.{r}.cells{k}", f"tel-cells{k}", "telecom", region, 90_000, vantages)
            for k in range(3)
        ]
        services += [grid, fleet, feed, *cells]
        # truth
        t_grid = plan.random(grid.ref.service_id, per_day, 15 * MINUTE, 90 * MINUTE, "late_reports")
        t_fleet = _fleet_outages(plan, fleet.ref.service_id, per_day, days)
        t_feed = plan.random(feed.ref.service_id, per_day, 16 * MINUTE, 60 * MINUTE, "frozen")
        t_cells: dict[str, list[TruthIncident]] = {c.ref.service_id: [] for c in cells}
        for _ in range(max(1, round(days))):
            s = float(rng.uniform(start + MARGIN, end - 3 * HOUR))
            e = s + float(rng.uniform(20, 60)) * MINUTE
            if all(plan.free(c.ref.service_id, s, e) for c in cells):
                for c in cells:
                    plan.take(c.ref.service_id, s, e)
                    sev = float(rng.uniform(0.5, 0.85))
                    t_cells[c.ref.service_id].append(
                        TruthIncident(
                            c.ref.service_id, s, e, "partial_regional", sev, f"pr-{r}-{s:.0f}"
                        )
                    )
        for c in cells:
            for t in plan.random(
                c.ref.service_id, per_day, 15 * MINUTE, 60 * MINUTE, "hb30_partial"
            ):
                t_cells[c.ref.service_id].append(
                    TruthIncident(
                        t.service_id, t.start, t.end, t.kind, float(rng.uniform(0.5, 0.85))
                    )
                )
        # benign
        blips = [
            TruthIncident(x.service_id, x.start, x.start + float(rng.uniform(20, 100)), "blip", 1.0)
            for sid in (feed.ref.service_id, cells[0].ref.service_id)
            for x in plan.random(sid, per_day, 60.0, 61.0, "blip")
        ]
        stalls = plan.random(feed.ref.service_id, per_day, 4 * MINUTE, 12 * MINUTE, "stall")
        evenings = [
            TruthIncident(fleet.ref.service_id, d0 + 20 * HOUR, d0 + 23.5 * HOUR, "evening", 0.0)
            for d0 in np.arange(math.floor(start / DAY) * DAY, end, DAY).tolist()
            if start <= d0 + 20 * HOUR and d0 + 23.5 * HOUR <= end
        ]
        truth += [*t_grid, *t_fleet, *t_feed, *[t for ts in t_cells.values() for t in ts]]
        benign += [*blips, *stalls, *evenings]
        # evidence
        _grid(em, cfg, rng, grid, t_grid, start, end, dark)
        _fleet(em, cfg, rng, fleet, t_fleet, start, end, dark)
        _feed(
            em,
            cfg,
            rng,
            feed,
            t_feed,
            stalls,
            [b for b in blips if b.service_id == feed.ref.service_id],
            start,
            end,
            dark,
        )
        for c in cells:
            cb = [b for b in blips if b.service_id == c.ref.service_id]
            _cells(em, cfg, rng, c, t_cells[c.ref.service_id], cb, start, end, dark)
    arrivals, extra = em.arrivals_and_ordered()
    merged = list(
        heapq.merge(
            zip(base.arrivals, base.observations, strict=True),
            zip(arrivals, extra, strict=True),
            key=lambda pair: pair[0],
        )
    )
    return replace(
        base,
        services=[*base.services, *services],
        observations=[o for _, o in merged],
        arrivals=[a for a, _ in merged],
        truth=sorted([*base.truth, *truth], key=lambda t: (t.start, t.service_id)),
        benign=[*base.benign, *benign],
    )


def _obs(
    spec: ServiceSpec, kind: Kind, t: float, eid: str, source: str = "scenario", **kw: Any
) -> Observation:
    r = spec.ref
    return Observation(eid, r.operator_id, r.service_id, r.sector, r.region, kind, t, source, **kw)


def _spec(
    sid: str, op: str, sector: str, region: str, served: int, vantages: tuple[str, ...]
) -> ServiceSpec:
    return ServiceSpec(ServiceRef(sid, op, sector, region, served), vantages, True, None, None)


def _fleet_outages(plan: _Plan, sid: str, n: int, days: float) -> list[TruthIncident]:
    """Half of them inside the evening fall, the rest anywhere."""
    out: list[TruthIncident] = []
    for d in range(math.ceil(days)):
        s = plan.start - plan.start % DAY + d * DAY + float(plan.rng.uniform(20.2, 22.8)) * HOUR
        e = s + float(plan.rng.uniform(15, 45)) * MINUTE
        if plan.take(sid, s, e):
            out.append(TruthIncident(sid, s, e, "diurnal", 1.0))
    return out + plan.random(sid, max(1, n - len(out)), 15 * MINUTE, 60 * MINUTE, "diurnal")


def _times(start: float, end: float, step: float, rng: np.random.Generator) -> np.ndarray:
    n = int((end - start) // step)
    return start + float(rng.uniform(0, step)) + np.arange(n) * step + rng.uniform(-2, 2, n)


def _probes(
    em: _Emitter,
    rng: np.random.Generator,
    spec: ServiceSpec,
    failing: list[TruthIncident],
    start: float,
    end: float,
    dark: list[tuple[str, float, float]],
) -> None:
    """60 s probes from each vantage; ``failing`` spans fail with their severity."""
    obs = []
    sid = spec.ref.service_id
    for v in spec.vantages:
        t = _times(start, end, 60.0, rng)
        sev = _state(t, failing)
        p_fail = np.where(sev >= 1.0, 0.98, np.maximum(sev, 0.003))
        for dv, ds, de in dark:
            if dv == v:
                p_fail[(t >= ds) & (t < de)] = 1.0
        fail = rng.random(len(t)) < p_fail
        obs += [
            _obs(
                spec,
                Kind.PROBE,
                float(t[i]),
                f"{sid}:p:{v}:{i}",
                vantage=v,
                status=Status.DOWN if fail[i] else Status.UP,
            )
            for i in range(len(t))
        ]
    em.add_many(obs)


def _heartbeats(
    spec: ServiceSpec, rng: np.random.Generator, start: float, end: float, off: list[TruthIncident]
) -> list[Observation]:
    t = _times(start, end, HB, rng)
    keep = (rng.random(len(t)) >= 0.02) & (_state(t, off) == 0)
    sid = spec.ref.service_id
    return [
        _obs(
            spec,
            Kind.HEARTBEAT,
            float(t[i]),
            f"{sid}:hb:{i}",
            source="feed",
            attrs={"expected_interval_s": HB},
        )
        for i in np.flatnonzero(keep)
    ]


def _grid(
    em: _Emitter,
    cfg: ScenarioConfig,
    rng: np.random.Generator,
    spec: ServiceSpec,
    truth: list[TruthIncident],
    start: float,
    end: float,
    dark: list[tuple[str, float, float]],
) -> None:
    _probes(em, rng, spec, [], start, end, dark)  # the utility's web front stays up
    served = spec.ref.customers_served or 0
    sid = spec.ref.service_id
    lost = [replace(t, severity=float(rng.uniform(0.3, 1.0))) for t in truth]
    t = start + np.arange(int((end - start) // 60.0)) * 60.0
    share = _state(t, lost)
    reach = served * 0.985 * (1 - share) * (1 + rng.normal(0, 0.01, len(t)))
    lag = rng.uniform(0, 20, len(t))
    for i in range(len(t)):  # delivered in 5-minute batches (in order within a batch)
        batch = math.floor(t[i] / 300.0)
        arrival = (batch + 1) * 300.0 + float(lag[int(batch) % len(t)]) + 0.01 * (i % 5)
        em.add_at(
            _obs(spec, Kind.KPI, float(t[i]), f"{sid}:lvl:{i}", metric="customers_reachable",
                 value=float(max(0, round(reach[i]))), customers_served=served, source="scada"),
            arrival,
        )  # fmt: skip
    for k, x in enumerate(lost):
        affected = int(served * x.severity)
        for j, (at, count) in enumerate(((x.start + 60.0, affected), (x.end, 0))):
            em.add_at(
                _obs(spec, Kind.OUTAGE_REPORT, at, f"{sid}:map:{k}:{j}", source="outage-map",
                     customers_served=served, customers_affected=count),
                at + float(rng.uniform(60, 180)),  # late: after newer probes
            )  # fmt: skip


def _fleet_level(at: np.ndarray) -> np.ndarray:
    hour = (at % DAY) / HOUR
    evening = 0.15 + 0.85 * 0.5 * (1 + np.cos(np.pi * (hour - 20.0) / 3.5))
    morning = 0.15 + 0.85 * 0.5 * (1 - np.cos(np.pi * (hour - 4.0) / 2.0))
    return np.where(
        (hour >= 6) & (hour < 20), 1.0,
        np.where((hour >= 20) & (hour < 23.5), evening,
                 np.where((hour >= 4) & (hour < 6), morning, 0.15)),
    )  # fmt: skip


def _fleet(
    em: _Emitter,
    cfg: ScenarioConfig,
    rng: np.random.Generator,
    spec: ServiceSpec,
    truth: list[TruthIncident],
    start: float,
    end: float,
    dark: list[tuple[str, float, float]],
) -> None:
    _probes(em, rng, spec, truth, start, end, dark)
    em.add_many(_heartbeats(spec, rng, start, end, truth))
    t = start + np.arange(int((end - start) // 60.0)) * 60.0
    down = _state(t, truth)
    count = (
        800 * _fleet_level(t) * np.where(down > 0, 0.03, 1.0) * (1 + rng.normal(0, 0.02, len(t)))
    )
    sid = spec.ref.service_id
    em.add_many([
        _obs(spec, Kind.KPI, float(t[i]), f"{sid}:veh:{i}", metric="vehicles_reporting",
             value=float(max(0, round(count[i]))), source="gtfs-rt")
        for i in range(len(t))
    ])  # fmt: skip


def _feed(
    em: _Emitter,
    cfg: ScenarioConfig,
    rng: np.random.Generator,
    spec: ServiceSpec,
    frozen: list[TruthIncident],
    stalls: list[TruthIncident],
    blips: list[TruthIncident],
    start: float,
    end: float,
    dark: list[tuple[str, float, float]],
) -> None:
    _probes(em, rng, spec, blips, start, end, dark)  # blips: every probe fails briefly
    sid = spec.ref.service_id
    for hb in _heartbeats(spec, rng, start, end, frozen):
        held = next((s for s in stalls if s.start <= hb.observed_at < s.end), None)
        if held is None:
            em.add_many([hb])
        else:  # the backlog arrives when the stall ends
            em.add_at(hb, held.end + float(rng.uniform(0, 10)))
    for k, x in enumerate(frozen):
        at = x.start + float(rng.uniform(2, 4)) * MINUTE
        while at < x.end:
            em.add_at(
                _obs(spec, Kind.STATUS_REPORT, at, f"{sid}:frozen:{k}:{at:.0f}",
                     status=Status.UNKNOWN, source="connector", attrs={"reason": "feed frozen"}),
                at + 1.0,
            )  # fmt: skip
            at += 5 * MINUTE


def _cells(
    em: _Emitter,
    cfg: ScenarioConfig,
    rng: np.random.Generator,
    spec: ServiceSpec,
    partial: list[TruthIncident],
    blips: list[TruthIncident],
    start: float,
    end: float,
    dark: list[tuple[str, float, float]],
) -> None:
    _probes(em, rng, spec, [*partial, *blips], start, end, dark)
    em.add_many(_heartbeats(spec, rng, start, end, []))  # heartbeats go on
