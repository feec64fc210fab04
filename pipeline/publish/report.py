"""The periodic continuity report: a view over [start, stop] plus indicators, charts and
concurrent disruptions, cut to an audience by the same policy as the status page.

Gathering (:func:`gather`) reads InfluxDB; everything after it is pure.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from pipeline.detection.correlation import Span, concurrent_disruptions
from pipeline.publish.aggregate import public_cells
from pipeline.publish.audience import Audience, Viewer
from pipeline.publish.definitions import describe
from pipeline.publish.reader import FluxReader
from pipeline.publish.records import IncidentRecord, IndicatorRecord, ServiceState, Snapshot
from pipeline.publish.redact import scrub
from pipeline.publish.views import ViewContext, build_view

#: The indicator window a report quotes (the roll-up's longest).
REPORT_WINDOW = "30d"


@dataclass(frozen=True, slots=True)
class ReportData:
    start: float
    stop: float
    snapshot: Snapshot


def gather(
    reader: FluxReader, start: float, stop: float, step: Callable[[str], None] = lambda _: None
) -> ReportData:
    """Read services, incidents and indicators for [start, stop]; ``step`` reports progress."""
    step("service states")
    services = reader.services(stop)
    step("incidents")
    # Incidents still open at the start had their last event before it.
    incidents = reader.incidents(start - 30 * 86_400.0, stop)
    step("indicators")
    indicators = reader.indicators(start, stop)
    kept = [i for i in incidents if i.started_at <= stop and i.end_or(stop) >= start]
    return ReportData(start, stop, Snapshot(stop, tuple(services), tuple(kept), tuple(indicators)))


def build_report(
    data: ReportData, viewer: Viewer, ctx: ViewContext, *, region: str | None = None
) -> dict[str, Any]:
    """The report's content for ``viewer`` (optionally one region), ready for the template."""
    snap = _in_region(data.snapshot, region)
    days = max(1, math.ceil((data.stop - data.start) / 86_400.0))
    # A report covers a closed period: the public delay is already behind it.
    report_ctx = replace(ctx, history_days=days, policy=replace(ctx.policy, delay_s=0.0))
    view = build_view(viewer, snap, snap, report_ctx, data.stop)
    view["period"] = {"from": _iso(data.start), "to": _iso(data.stop), "days": days}
    view["region"] = region
    view["indicators"] = _indicators(snap, viewer, ctx, region)
    view["disruptions"] = _disruptions(snap.incidents, viewer, ctx)
    incidents = [*view["history"], *view["open_incidents"]]
    view["restore_times"] = sorted(
        (
            (_label(i, viewer), max(0.0, float(i["time_to_restore_s"])))
            for i in incidents
            if i.get("time_to_restore_s") is not None
        ),
        key=lambda row: -row[1],
    )[:20]
    return view


def _in_region(snap: Snapshot, region: str | None) -> Snapshot:
    if region is None:
        return snap
    return Snapshot(
        snap.as_of,
        tuple(s for s in snap.services if s.region == region),
        tuple(i for i in snap.incidents if i.region == region),
        snap.indicators,
    )


def _indicators(
    snap: Snapshot, viewer: Viewer, ctx: ViewContext, region: str | None
) -> list[dict[str, Any]]:
    allowed = _publishable_groups(snap.services, ctx)
    services = {s.service_id for s in snap.services}
    own = {s.service_id for s in snap.services if s.operator_id == viewer.principal}
    rows = []
    for record in snap.indicators:
        if record.window != REPORT_WINDOW:
            continue
        if region is not None and (
            record.dimension == "sector"  # sector figures span every region
            or (record.dimension == "region" and record.key != region)
        ):
            continue
        if not _visible(record, viewer, allowed, services, own):
            continue
        key = record.key
        if viewer.audience is Audience.VERIFIER:
            key = scrub(key, ctx.redaction_key)
        standard, definition = describe(record.name)
        rows.append(
            {
                "name": record.name,
                "dimension": record.dimension,
                "key": key,
                "value": record.value,
                "standard": standard,
                "definition": definition,
            }
        )
    return rows


def _visible(
    record: IndicatorRecord,
    viewer: Viewer,
    allowed: set[tuple[str, str]],
    services: set[str],
    own: set[str],
) -> bool:
    if (record.dimension, record.key) in allowed:
        return True
    if viewer.audience is Audience.VERIFIER:
        return record.dimension in ("region", "sector", "operator") or (
            record.dimension == "service" and record.key in services
        )
    if viewer.audience is Audience.OPERATOR:
        return (record.dimension == "operator" and record.key == viewer.principal) or (
            record.dimension == "service" and record.key in own
        )
    return False


def _publishable_groups(services: Sequence[ServiceState], ctx: ViewContext) -> set[tuple[str, str]]:
    """Sector and region groups that pass the public minimum group size as a whole."""
    out: set[tuple[str, str]] = set()
    for dimension in ("sector", "region"):
        keys = {getattr(s, dimension) for s in services}
        for key in keys:
            members = [s for s in services if getattr(s, dimension) == key]
            cells, withheld = public_cells(
                [replace(s, sector="*", region="*") for s in members], [], ctx.policy
            )
            if cells and withheld == 0:
                out.add((dimension, key))
    return out


def _disruptions(
    incidents: Iterable[IncidentRecord], viewer: Viewer, ctx: ViewContext
) -> list[dict[str, Any]]:
    spans = [
        Span(i.incident_id, i.service_id, i.operator_id, i.sector, i.region, i.started_at,
             i.restored_at)
        for i in incidents
        if not i.maintenance
    ]  # fmt: skip
    rows = []
    for finding in concurrent_disruptions(spans):
        row: dict[str, Any] = {
            "region": finding.region,
            "start": _iso(finding.start),
            "end": None if finding.end is None else _iso(finding.end),
            "incidents": len(finding.incident_ids),
            "operators": len(finding.operators),
            "sectors": list(finding.sectors),
        }
        if viewer.audience is Audience.VERIFIER:
            row["operator_ids"] = list(finding.operators)
            row["incident_ids"] = [scrub(i, ctx.redaction_key) for i in finding.incident_ids]
        rows.append(row)
    return rows


def _label(row: dict[str, Any], viewer: Viewer) -> str:
    if viewer.audience is Audience.PUBLIC:
        return f"{row['cell']} ({row['started_at'][:16].replace('T', ' ')})"
    return f"{row['service_id']} ({row['started_at'][:16].replace('T', ' ')})"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
