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
from dataclasses import dataclass
from typing import Any

from pipeline.incidents.maintenance import MaintenanceCalendar
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
    for ``service_rows`` when given (groups still count every service)."""
    inventory = {s.service_id: s for s in services}
    for i in incidents:
        inventory.setdefault(i.service_id, i.service)
    by_service: dict[str, list[Incident]] = {sid: [] for sid in inventory}
    for i in incidents:
        by_service[i.service_id].append(i)
    cal = calendar or MaintenanceCalendar()
    rows: list[IndicatorValue] = []
    for label, length in windows.items():
        start = now - length
        quiet = availability([], start, now)
        avail = {}
        for sid in inventory:
            incs, maint = by_service[sid], cal.windows(sid)
            avail[sid] = availability(incs, start, now, maint) if incs or maint else quiet
        for dim in dimensions:
            groups: dict[str, list[str]] = {}
            for sid, ref in inventory.items():
                if dim == "service" and service_rows is not None and sid not in service_rows:
                    continue
                groups.setdefault(_key(ref, dim), []).append(sid)
            for key, sids in sorted(groups.items()):
                incs = [i for sid in sids for i in by_service[sid]]
                refs = [inventory[sid] for sid in sids]

                values: list[tuple[str, float | None]] = [
                    (
                        "availability_incl_maintenance",
                        mean_availability(avail[s].including_maintenance for s in sids),
                    ),
                    (
                        "availability_excl_maintenance",
                        mean_availability(avail[s].excluding_maintenance for s in sids),
                    ),
                    ("downtime_s", sum(avail[s].down_s for s in sids)),
                    ("maintenance_downtime_s", sum(avail[s].maintenance_down_s for s in sids)),
                    ("incidents_per_30d", incident_frequency(incs, len(sids), start, now)),
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
                rows.extend(_sector_rows(incs, refs, start, now, label, dim, key))
    return rows


def _sector_rows(
    incs: list[Incident],
    refs: list[ServiceRef],
    start: float,
    now: float,
    label: str,
    dim: str,
    key: str,
) -> list[IndicatorValue]:
    rows: list[IndicatorValue] = []
    energy_served = sum(r.customers_served or 0 for r in refs if r.sector == "energy")
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
    if any(r.sector == "telecom" for r in refs):
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
    if any(r.sector == "transport" for r in refs):
        minutes = transport_effect_minutes(
            [i for i in incs if i.service.sector == "transport"], start, now
        )
        for effect in ("NO_SERVICE", "REDUCED_SERVICE"):
            total = sum(v for (_, _, e), v in minutes.items() if e == effect)
            rows.append(IndicatorValue(f"{effect.lower()}_minutes", dim, key, label, total))
    return rows
