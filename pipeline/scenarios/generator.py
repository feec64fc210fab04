"""Labelled synthetic operator telemetry, deterministic from a seed.

Every service is probed from several vantages every ``probe_interval_s``; health and transport
services also send heartbeats, energy services report ``customers_reachable`` (a level
signal) and telecom services a seasonal traffic KPI. Real outages (the ground truth) are:

* **full**: probes fail (98 %), heartbeats stop, reachable customers and traffic collapse;
* **partial**: 50-85 % of probes fail (energy: 30-70 % of customers lose supply, probes fine);
* **regional**: several services of one region, across sectors and operators, go down
  together (a concurrent disruption);
* **overrun**: an outage inside a declared maintenance window that outlasts it.

Noise that must *not* become an incident: a flaky vantage (5 % failures), a base failure rate
of 0.3 %, vantages going dark for 5-20 minutes (all their probes fail), lost and jittered
heartbeats, noisy signals, outages inside maintenance windows, transport delays (0-4 s, and
0.2 % of observations 30-90 s late, i.e. out of order) and 1 % duplicated deliveries.

>>> sc = generate(ScenarioConfig(seed=5, duration_s=6 * 3600.0, regions=("UA-30",)))
>>> len(sc.observations) > 1000 and all(t.end > t.start for t in sc.truth)
True
>>> generate(ScenarioConfig(seed=5, duration_s=3600.0)).observations[:3] == \\
...     generate(ScenarioConfig(seed=5, duration_s=3600.0)).observations[:3]
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.core.schema import Kind, Observation, Status
from pipeline.incidents.maintenance import MaintenanceWindow
from pipeline.incidents.model import ServiceRef
from pipeline.scenarios.model import Scenario, ServiceSpec, TruthIncident

MINUTE = 60.0
HOUR = 3_600.0
DAY = 86_400.0
SECTORS = ("energy", "health", "telecom", "transport")


@dataclass(frozen=True, slots=True)
class ScenarioConfig:
    """Knobs of :func:`generate` (defaults: the default scenario of ``continuity evaluate``)."""

    seed: int = 1
    start: float = 1_767_225_600.0  # 2026-01-01T00:00:00Z
    duration_s: float = 2 * DAY
    regions: tuple[str, ...] = ("UA-30", "UA-46", "UA-63")
    operators_per_sector: int = 2
    vantages: tuple[str, ...] = ("fra", "waw", "ams", "kyiv")
    flaky_vantage: str = "ams"
    probe_interval_s: float = 60.0
    heartbeat_interval_s: float = 30.0
    level_interval_s: float = 60.0
    kpi_interval_s: float = 300.0
    base_failure: float = 0.003
    flaky_failure: float = 0.05
    outage_gap_mean_s: float = 16 * HOUR
    regional_events_per_day: float = 1.0
    partial_share: float = 0.25
    dark_episodes_per_vantage_day: float = 1.5
    heartbeat_loss: float = 0.02
    late_share: float = 0.002
    duplicate_share: float = 0.01
    maintenance_share: float = 0.3
    status_report_share: float = 0.6


def _services(cfg: ScenarioConfig) -> list[ServiceSpec]:
    out = []
    for region in cfg.regions:
        for sector in SECTORS:
            for k in range(cfg.operators_per_sector):
                op = f"{sector[:3]}-op{k + 1}"
                sid = f"{sector}.{region.lower()}.{op}"
                served = {"energy": 20_000, "telecom": 120_000}.get(sector, 1_000) * (k + 1)
                out.append(
                    ServiceSpec(
                        ref=ServiceRef(sid, op, sector, region, served),
                        vantages=cfg.vantages if sector != "energy" or k == 0 else cfg.vantages[:3],
                        heartbeat=sector in ("health", "transport"),
                        level_metric="customers_reachable" if sector == "energy" else None,
                        kpi_metric="traffic_gbps" if sector == "telecom" else None,
                    )
                )
    return out


def _duration(rng: np.random.Generator) -> float:
    # lognormal, median 20 min, clipped to [5 min, 4 h]: sustained outages only
    return float(np.clip(rng.lognormal(math.log(20 * MINUTE), 0.9), 5 * MINUTE, 4 * HOUR))


def _free(busy: list[tuple[float, float]], s: float, e: float, gap: float) -> bool:
    return all(e + gap <= bs or s >= be + gap for bs, be in busy)


def _schedule(
    cfg: ScenarioConfig, rng: np.random.Generator, services: list[ServiceSpec]
) -> tuple[list[TruthIncident], list[MaintenanceWindow], list[TruthIncident]]:
    end = cfg.start + cfg.duration_s
    busy: dict[str, list[tuple[float, float]]] = {s.ref.service_id: [] for s in services}
    truth: list[TruthIncident] = []
    windows: list[MaintenanceWindow] = []
    maint_out: list[TruthIncident] = []
    margin = 2 * HOUR  # detectors learn a baseline first; outages end before the end
    # maintenance first (declared windows), then regional events, then single outages
    for s in services:
        if rng.random() >= cfg.maintenance_share or end - 4 * HOUR <= cfg.start + margin:
            continue
        sid = s.ref.service_id
        ws = float(rng.uniform(cfg.start + margin, end - 4 * HOUR))
        we = ws + float(rng.uniform(60, 120)) * MINUTE
        windows.append(MaintenanceWindow(sid, ws, we, "planned works"))
        down_s = ws + 5 * MINUTE
        if rng.random() < 0.3:  # overrun: down past the window end
            over = we + float(rng.uniform(10, 30)) * MINUTE
            maint_out.append(TruthIncident(sid, down_s, we, "maintenance", 1.0))
            truth.append(TruthIncident(sid, we, over, "overrun", 1.0))
            busy[sid].append((ws, over))
        else:
            down_e = we - 10 * MINUTE
            maint_out.append(TruthIncident(sid, down_s, down_e, "maintenance", 1.0))
            busy[sid].append((ws, we))
    n_regional = rng.poisson(cfg.regional_events_per_day * cfg.duration_s / DAY)
    if end - 5 * HOUR <= cfg.start + margin:
        n_regional = 0  # too short to place one
    for g in range(n_regional):
        region = cfg.regions[int(rng.integers(len(cfg.regions)))]
        members = [s for s in services if s.ref.region == region]
        picked = rng.choice(
            len(members), size=min(len(members), int(rng.integers(3, 6))), replace=False
        )
        t0 = float(rng.uniform(cfg.start + margin, end - 5 * HOUR))
        for j in picked:
            sid = members[int(j)].ref.service_id
            s0 = t0 + float(rng.uniform(0, 5)) * MINUTE
            e0 = s0 + _duration(rng)
            if _free(busy[sid], s0, e0, 30 * MINUTE):
                busy[sid].append((s0, e0))
                truth.append(TruthIncident(sid, s0, e0, "regional", 1.0, f"regional-{g}"))
    for s in services:
        sid = s.ref.service_id
        t = cfg.start + margin
        while True:
            t += float(rng.exponential(cfg.outage_gap_mean_s))
            dur = _duration(rng)
            if t + dur > end - 30 * MINUTE:
                break
            if not _free(busy[sid], t, t + dur, 30 * MINUTE):
                continue
            busy[sid].append((t, t + dur))
            partial = rng.random() < cfg.partial_share
            sev = float(rng.uniform(0.5, 0.85)) if partial else 1.0
            if partial and s.ref.sector == "energy":
                sev = float(rng.uniform(0.3, 0.7))
            truth.append(TruthIncident(sid, t, t + dur, "partial" if partial else "full", sev))
            t += dur
    truth.sort(key=lambda x: (x.start, x.service_id))
    return truth, windows, maint_out


class _Emitter:
    """Collects observations with an arrival time (delays, late deliveries, duplicates)."""

    def __init__(self, cfg: ScenarioConfig, rng: np.random.Generator) -> None:
        self.cfg, self.rng = cfg, rng
        self.items: list[tuple[float, int, Observation]] = []

    def add_many(self, observations: list[Observation]) -> None:
        n = len(observations)
        if n == 0:
            return
        rng = self.rng
        delay = rng.uniform(0.0, 4.0, n)
        late = rng.random(n) < self.cfg.late_share
        delay[late] += rng.uniform(30.0, 90.0, int(late.sum()))
        dup = rng.random(n) < self.cfg.duplicate_share
        dup_delay = rng.uniform(0.0, 10.0, n)
        for i, obs in enumerate(observations):
            arrival = obs.observed_at + float(delay[i])
            self.items.append((arrival, len(self.items), obs))
            if dup[i]:
                self.items.append((arrival + float(dup_delay[i]), len(self.items), obs))

    def add_at(self, obs: Observation, arrival: float) -> None:
        """One observation delivered at a chosen time (batches, backlogs, late reports)."""
        self.items.append((arrival, len(self.items), obs))

    def ordered(self) -> list[Observation]:
        return [o for _, _, o in sorted(self.items, key=lambda x: (x[0], x[1]))]

    def arrivals_and_ordered(self) -> tuple[list[float], list[Observation]]:
        """Arrival times and observations, in arrival order."""
        items = sorted(self.items, key=lambda x: (x[0], x[1]))
        return [a for a, _, _ in items], [o for _, _, o in items]


def _state(
    t: np.ndarray, spans: list[TruthIncident]
) -> np.ndarray:  # severity in force at each time (0 = healthy)
    sev = np.zeros(len(t))
    for sp in spans:
        sev[(t >= sp.start) & (t < sp.end)] = sp.severity
    return sev


def generate(cfg: ScenarioConfig | None = None) -> Scenario:
    """A labelled scenario; the same config (seed included) gives the same scenario."""
    cfg = cfg or ScenarioConfig()
    rng = np.random.default_rng(cfg.seed)
    services = _services(cfg)
    truth, windows, maint_out = _schedule(cfg, rng, services)
    end = cfg.start + cfg.duration_s
    dark: dict[str, list[tuple[float, float]]] = {}
    for v in cfg.vantages:
        n = rng.poisson(cfg.dark_episodes_per_vantage_day * cfg.duration_s / DAY)
        starts = rng.uniform(cfg.start, end, n)
        dark[v] = [(float(s), float(s) + float(rng.uniform(5, 20)) * MINUTE) for s in starts]
    em = _Emitter(cfg, rng)
    for spec in services:
        ref = spec.ref
        spans = [x for x in [*truth, *maint_out] if x.service_id == ref.service_id]
        full = [x for x in spans if x.severity >= 1.0]
        probe_spans = spans if ref.sector != "energy" else full
        em.add_many(_probes(cfg, rng, spec, probe_spans, dark))
        if spec.heartbeat:
            em.add_many(_heartbeats(cfg, rng, spec, full))
        if spec.level_metric:
            em.add_many(_level(cfg, rng, spec, spans))
        if spec.kpi_metric:
            em.add_many(_kpi(cfg, rng, spec, spans))
    em.add_many(_status_reports(cfg, rng, services, truth))
    arrivals, observations = em.arrivals_and_ordered()
    benign = [
        TruthIncident("*", ds, de, "vantage_dark", 1.0, v)
        for v, spans in dark.items()
        for ds, de in spans
    ]
    return Scenario(
        cfg.seed,
        cfg.start,
        end,
        cfg.probe_interval_s,
        cfg.heartbeat_interval_s,
        services,
        observations,
        truth,
        windows,
        maint_out,
        benign,
        arrivals,
    )


def _obs(spec: ServiceSpec, kind: Kind, t: float, eid: str, **kw: Any) -> Observation:
    r = spec.ref
    return Observation(
        eid, r.operator_id, r.service_id, r.sector, r.region, kind, t, "scenario", **kw
    )


def _probes(
    cfg: ScenarioConfig,
    rng: np.random.Generator,
    spec: ServiceSpec,
    spans: list[TruthIncident],
    dark: dict[str, list[tuple[float, float]]],
) -> list[Observation]:
    out = []
    n = int(cfg.duration_s // cfg.probe_interval_s)
    for v in spec.vantages:
        phase = float(rng.uniform(0, cfg.probe_interval_s))
        t = cfg.start + phase + np.arange(n) * cfg.probe_interval_s + rng.uniform(-2, 2, n)
        p_fail = np.full(n, cfg.flaky_failure if v == cfg.flaky_vantage else cfg.base_failure)
        sev = _state(t, spans)
        p_fail = np.where(sev >= 1.0, 0.98, np.maximum(p_fail, sev))
        for ds, de in dark[v]:
            p_fail[(t >= ds) & (t < de)] = 1.0
        fail = rng.random(n) < p_fail
        latency = rng.gamma(4.0, 0.02, n)
        sid = spec.ref.service_id
        for i in range(n):
            ok = not fail[i]
            out.append(
                _obs(
                    spec,
                    Kind.PROBE,
                    float(t[i]),
                    f"{sid}:p:{v}:{i}",
                    vantage=v,
                    status=Status.UP if ok else Status.DOWN,
                    metric="latency",
                    value=round(float(latency[i]), 4) if ok else None,
                    unit="s",
                )
            )
    return out


def _heartbeats(
    cfg: ScenarioConfig, rng: np.random.Generator, spec: ServiceSpec, full: list[TruthIncident]
) -> list[Observation]:
    n = int(cfg.duration_s // cfg.heartbeat_interval_s)
    phase = float(rng.uniform(0, cfg.heartbeat_interval_s))
    t = cfg.start + phase + np.arange(n) * cfg.heartbeat_interval_s + rng.uniform(-2, 2, n)
    keep = (rng.random(n) >= cfg.heartbeat_loss) & (_state(t, full) == 0)
    sid = spec.ref.service_id
    return [
        _obs(spec, Kind.HEARTBEAT, float(t[i]), f"{sid}:hb:{i}", status=Status.UP)
        for i in np.flatnonzero(keep)
    ]


def _level(
    cfg: ScenarioConfig, rng: np.random.Generator, spec: ServiceSpec, spans: list[TruthIncident]
) -> list[Observation]:
    n = int(cfg.duration_s // cfg.level_interval_s)
    t = cfg.start + np.arange(n) * cfg.level_interval_s + float(rng.uniform(0, 30))
    served = spec.ref.customers_served or 0
    lost = _state(t, spans)
    lost = np.where(lost >= 1.0, 0.97, lost)
    reach = served * 0.985 * (1 - lost) * (1 + rng.normal(0, 0.01, n))
    sid = spec.ref.service_id
    return [
        _obs(
            spec,
            Kind.KPI,
            float(t[i]),
            f"{sid}:lvl:{i}",
            metric="customers_reachable",
            value=float(max(0, round(reach[i]))),
            customers_served=served,
        )
        for i in range(n)
    ]


def _kpi(
    cfg: ScenarioConfig, rng: np.random.Generator, spec: ServiceSpec, spans: list[TruthIncident]
) -> list[Observation]:
    n = int(cfg.duration_s // cfg.kpi_interval_s)
    t = cfg.start + np.arange(n) * cfg.kpi_interval_s
    daily = 1.0 + 0.45 * np.sin(2 * np.pi * ((t % DAY) / DAY - 0.375))
    sev = _state(t, spans)
    value = 40.0 * daily * (1 - np.where(sev >= 1.0, 0.95, sev)) * (1 + rng.normal(0, 0.03, n))
    sid = spec.ref.service_id
    return [
        _obs(
            spec,
            Kind.KPI,
            float(t[i]),
            f"{sid}:kpi:{i}",
            metric="traffic_gbps",
            value=round(float(value[i]), 3),
            unit="Gbit/s",
        )
        for i in range(n)
    ]


def _status_reports(
    cfg: ScenarioConfig,
    rng: np.random.Generator,
    services: list[ServiceSpec],
    truth: list[TruthIncident],
) -> list[Observation]:
    specs = {s.ref.service_id: s for s in services}
    out = []
    for k, tr in enumerate(truth):
        if rng.random() >= cfg.status_report_share:
            continue
        at = tr.start + float(rng.uniform(5, 20)) * MINUTE
        if at >= tr.end:
            continue
        spec = specs[tr.service_id]
        served = spec.ref.customers_served or 0
        out.append(
            _obs(
                spec,
                Kind.STATUS_REPORT,
                at,
                f"{tr.service_id}:sr:{k}",
                status=Status.DOWN,
                customers_served=served,
                customers_affected=int(served * min(tr.severity, 1.0)),
            )
        )
    return out
