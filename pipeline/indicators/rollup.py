"""Roll-ups: every indicator by service, operator, sector and region over 1 h, 24 h, 30 d.

Pure: incidents, the service inventory and ``now`` in; flat :class:`IndicatorValue` rows out
(one per name/dimension/key/window), ready for Prometheus gauges or InfluxDB points.
Services without incidents count (they are 100 % available); services that only appear in
incidents are added to the inventory. ``service_rows`` limits the per-service rows to the
services whose figures can differ from a quiet service's (the worker passes those with
incidents or maintenance windows): with a million services, a row set per quiet service per
roll-up is what dominated the worker's cost, and it says nothing new.

>>> from pipeline.incidents.model import Incident, ServiceRef
>>> ref = ServiceRef("s", "op", "telecom", "UA-30", customers_served=1000)
>>> rows = rollup([Incident("s/0", ref, 0.0, 60.0, restored_at=540.0)], [ref], now=3600.0,
...               windows={"1h": 3600.0})
>>> [r.value for r in rows if r.name == "availability_incl_maintenance" and r.dimension == "sector"]
[0.85]
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline.incidents.maintenance import MaintenanceCalendar, MaintenanceWindow
from pipeline.incidents.model import Incident, ServiceRef
from pipeline.indicators.ieee1366 import interruptions_from_incidents, reliability
from pipeline.indicators.sectors import nors_outages, transport_effect_minutes
from pipeline.indicators.service import (
    availability,
    incident_frequency,
    mean_availability,
    time_to_detect,
    time_to_restore,
)

DEFAULT_WINDOWS: dict[str, float] = {"1h": 3_600.0, "24h": 86_400.0, "30d": 30 * 86_400.0}
DIMENSIONS: tuple[str, ...] = ("service", "operator", "sector", "region")


@dataclass(frozen=True, slots=True)
class IndicatorValue:
    """One indicator value; ``value`` is None when undefined (e.g. no incident to time)."""

    name: str
    dimension: str
    key: str
    window: str
    value: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "name": self.name,
            "dimension": self.dimension,
            "key": self.key,
            "window": self.window,
            "value": self.value,
        }


def _key(ref: ServiceRef, dimension: str) -> str:
    return {
        "service": ref.service_id,
        "operator": ref.operator_id,
        "sector": ref.sector,
        "region": ref.region,
    }[dimension]


@dataclass(slots=True)
class _Group:
    """One key of one dimension: what its rows need, gathered once per roll-up. Only the
    "notable" services (with incidents or maintenance windows) are visited per window; the
    quiet ones all share one availability, so they are only counted."""

    size: int = 0
    notable: list[str] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)
    energy_served: int = 0
    has_telecom: bool = False
    has_transport: bool = False


def notable_services(incidents: Iterable[Incident], calendar: MaintenanceCalendar) -> set[str]:
    """Services whose indicators can differ from a quiet service's: those with incidents or
    maintenance windows (a quiet service is simply 100 % available)."""
    return {i.service_id for i in incidents} | {w.service_id for w in calendar.windows()}


def rollup(
    incidents: Sequence[Incident],
    services: Iterable[ServiceRef],
    now: float,
    windows: Mapping[str, float] = DEFAULT_WINDOWS,
    calendar: MaintenanceCalendar | None = None,
    dimensions: Sequence[str] = DIMENSIONS,
    service_rows: Collection[str] | None = None,
) -> list[IndicatorValue]:
    """All indicators for every group and window ending at ``now``; per-service rows only
    for ``service_rows`` when given (groups still count every service).

    Cost: one pass over the services per dimension, then per window only the services with
    incidents or maintenance windows (a million mostly quiet services is seconds, not
    minutes, per roll-up)."""
    inventory = {s.service_id: s for s in services}
    for i in incidents:
        inventory.setdefault(i.service_id, i.service)
    # a silence a late backlog showed was a stalled feed is no downtime (incidents.gaps)
    incidents = [i for i in incidents if not i.evidence_gap]
    by_service: dict[str, list[Incident]] = {}
    for i in incidents:
        by_service.setdefault(i.service_id, []).append(i)
    cal = calendar or MaintenanceCalendar()
    maintenance: dict[str, list[MaintenanceWindow]] = {}
    for window in cal.windows():
        maintenance.setdefault(window.service_id, []).append(window)
    notable_ids = notable_services(incidents, cal)
    groups = {
        dim: _groups(inventory, dim, by_service, notable_ids, service_rows) for dim in dimensions
    }
    notable = [sid for sid in inventory if sid in notable_ids]
    rows: list[IndicatorValue] = []
    for label, length in windows.items():
        start = now - length
        quiet = availability([], start, now)
        avail = {
            sid: availability(by_service.get(sid, ()), start, now, maintenance.get(sid, ()))
            for sid in notable
        }
        for dim in dimensions:
            for key, group in sorted(groups[dim].items()):
                incs = group.incidents
                quiet_count = group.size - len(group.notable)
                special = [avail[sid] for sid in group.notable]
                values: list[tuple[str, float | None]] = [
                    (
                        "availability_incl_maintenance",
                        _mean(
                            [a.including_maintenance for a in special],
                            quiet.including_maintenance,
                            quiet_count,
                        ),
                    ),
                    (
                        "availability_excl_maintenance",
                        _mean(
                            [a.excluding_maintenance for a in special],
                            quiet.excluding_maintenance,
                            quiet_count,
                        ),
                    ),
                    ("downtime_s", sum(a.down_s for a in special) + quiet_count * quiet.down_s),
                    (
                        "maintenance_downtime_s",
                        sum(a.maintenance_down_s for a in special)
                        + quiet_count * quiet.maintenance_down_s,
                    ),
                    ("incidents_per_30d", incident_frequency(incs, group.size, start, now)),
                    (
                        "open_incidents",
                        float(sum(1 for i in incs if i.is_open and not i.maintenance)),
                    ),
                ]
                for name, summ in (
                    ("ttd", time_to_detect(incs, start, now)),
                    ("ttr", time_to_restore(incs, start, now)),
                ):
                    for stat, val in summ.to_dict().items():
                        values.append((f"{name}_{stat}" + ("" if stat == "count" else "_s"), val))
                rows.extend(IndicatorValue(n, dim, key, label, v) for n, v in values)
                rows.extend(_sector_rows(group, start, now, label, dim, key))
    return rows


def _groups(
    inventory: Mapping[str, ServiceRef],
    dim: str,
    by_service: Mapping[str, list[Incident]],
    notable: Collection[str],
    service_rows: Collection[str] | None,
) -> dict[str, _Group]:
    groups: dict[str, _Group] = {}
    for sid, ref in inventory.items():
        if dim == "service" and service_rows is not None and sid not in service_rows:
            continue
        key = _key(ref, dim)
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group()
        group.size += 1
        if ref.sector == "energy":
            group.energy_served += ref.customers_served or 0
        group.has_telecom = group.has_telecom or ref.sector == "telecom"
        group.has_transport = group.has_transport or ref.sector == "transport"
        if sid in notable:
            group.notable.append(sid)
            group.incidents.extend(by_service.get(sid, ()))
    return groups


def _mean(values: Sequence[float | None], quiet: float | None, quiet_count: int) -> float | None:
    """:func:`mean_availability` over ``values`` plus ``quiet_count`` copies of ``quiet``."""
    if quiet is None or quiet_count == 0:
        return mean_availability(values)
    known = [v for v in values if v is not None]
    return (sum(known) + quiet * quiet_count) / (len(known) + quiet_count)


def _sector_rows(
    group: _Group,
    start: float,
    now: float,
    label: str,
    dim: str,
    key: str,
) -> list[IndicatorValue]:
    rows: list[IndicatorValue] = []
    incs = group.incidents
    energy_served = group.energy_served
    if energy_served > 0:
        energy = [i for i in incs if i.service.sector == "energy"]
        rel = reliability(
            interruptions_from_incidents(energy, start, now), energy_served, (now - start) / 60.0
        )
        for name, val in (
            ("saifi", rel.saifi),
            ("saidi_min", rel.saidi),
            ("caidi_min", rel.caidi),
            ("asai", rel.asai),
            ("maifi", rel.maifi),
        ):
            rows.append(IndicatorValue(name, dim, key, label, val))
    if group.has_telecom:
        tele = [i for i in incs if i.service.sector == "telecom" and start <= i.started_at < now]
        nors = nors_outages(tele, now)
        rows.append(
            IndicatorValue("nors_user_minutes", dim, key, label, sum(n.user_minutes for n in nors))
        )
        rows.append(
            IndicatorValue(
                "nors_reportable_outages", dim, key, label, float(sum(n.reportable for n in nors))
            )
        )
    if group.has_transport:
        minutes = transport_effect_minutes(
            [i for i in incs if i.service.sector == "transport"], start, now
        )
        for effect in ("NO_SERVICE", "REDUCED_SERVICE"):
            total = sum(v for (_, _, e), v in minutes.items() if e == effect)
            rows.append(IndicatorValue(f"{effect.lower()}_minutes", dim, key, label, total))
    return rows
