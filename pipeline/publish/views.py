"""The one place data is cut to an audience: snapshots in, a JSON-able view out.

Every page, API response, summary and report is rendered from a view built here, so what an
audience may see is decided once, on the server, by explicit field lists:

* **public**: sector x region cells (see :mod:`pipeline.publish.aggregate`), read from a
  snapshot at least ``delay_s`` old; incidents only as rows of a published cell, under a
  keyed pseudonym, with no service or operator named;
* **verifier**: every service and incident at service level, every string scrubbed of
  hostnames, IP addresses, URLs and credentials (:mod:`pipeline.publish.redact`);
* **operator**: the public cells, plus its own services and incidents in full, unscrubbed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipeline.core.schema import STATUS_SEVERITY, Status
from pipeline.publish.aggregate import Cell, cell_of, public_cells
from pipeline.publish.audience import Audience, Viewer
from pipeline.publish.availability import daily_availability
from pipeline.publish.config import PublicPolicy
from pipeline.publish.records import IncidentRecord, ServiceState, Snapshot
from pipeline.publish.redact import pseudonym, scrub_tree

#: Fields each audience gets, per record; anything not listed never leaves the server.
VERIFIER_SERVICE_FIELDS = (
    "service_id", "operator_id", "sector", "region", "status", "since",
    "customers_served", "customers_affected",
)  # fmt: skip
OPERATOR_SERVICE_FIELDS = (*VERIFIER_SERVICE_FIELDS, "reason")
VERIFIER_INCIDENT_FIELDS = (
    "incident_id", "service_id", "operator_id", "sector", "region", "started_at",
    "detected_at", "acknowledged_at", "restored_at", "severity", "customers_affected",
    "users_affected", "maintenance", "time_to_detect_s", "time_to_restore_s", "duration_s",
)  # fmt: skip
OPERATOR_INCIDENT_FIELDS = (*VERIFIER_INCIDENT_FIELDS, "last_event")
PUBLIC_INCIDENT_FIELDS = (
    "ref", "cell", "sector", "region", "started_at", "restored_at", "duration_s",
    "time_to_restore_s",
    "customers_affected",
)  # fmt: skip
_TIME_FIELDS = {"since", "started_at", "detected_at", "acknowledged_at", "restored_at"}


class PolicyViolation(ValueError):
    """A view was asked for with data the policy does not allow (a bug, not a request)."""


@dataclass(frozen=True, slots=True)
class ViewContext:
    policy: PublicPolicy
    redaction_key: bytes
    notices_feed: str | None = None
    transparency_log: str | None = None
    history_days: int = 90


def build_view(
    viewer: Viewer, live: Snapshot, public: Snapshot, ctx: ViewContext, now: float
) -> dict[str, Any]:
    """The view for ``viewer``; ``public`` must be at least ``delay_s`` old."""
    if public.as_of > now - ctx.policy.delay_s + 1e-6:
        raise PolicyViolation("the public snapshot is newer than the configured delay allows")
    cells_source = live if viewer.audience is Audience.VERIFIER else public
    cells, withheld = public_cells(cells_source.services, cells_source.incidents, ctx.policy)
    view: dict[str, Any] = {
        "audience": viewer.audience.value,
        "principal": viewer.principal,
        "generated_at": _iso(now),
        "as_of": _iso(cells_source.as_of),
        "links": {"notices_feed": ctx.notices_feed, "transparency_log": ctx.transparency_log},
        "cells": _cell_rows(cells, cells_source),
        "withheld_services": withheld,
    }
    view["overall"] = _overall([c["status"] for c in view["cells"]])
    if viewer.audience is Audience.PUBLIC:
        view.update(_public_detail(cells, public, ctx))
    elif viewer.audience is Audience.VERIFIER:
        detail = _service_detail(
            live.services, live.incidents, live.as_of, ctx, VERIFIER_SERVICE_FIELDS,
            VERIFIER_INCIDENT_FIELDS, bars_by="operator_id",
        )  # fmt: skip
        view.update(scrub_tree(detail, ctx.redaction_key))
    else:
        own = viewer.principal
        services = [s for s in live.services if s.operator_id == own]
        incidents = [i for i in live.incidents if i.operator_id == own]
        view.update(
            _service_detail(
                services,
                incidents,
                live.as_of,
                ctx,
                OPERATOR_SERVICE_FIELDS,
                OPERATOR_INCIDENT_FIELDS,
                bars_by="service_id",
            )
        )
    return view


def find_service(view: dict[str, Any], service_id: str) -> dict[str, Any] | None:
    """A service of the view with its incidents; None when this view holds no such service."""
    for service in view.get("services", ()):
        if service["service_id"] == service_id:
            incidents = [
                i
                for i in (*view["open_incidents"], *view["history"])
                if i.get("service_id") == service_id
            ]
            return {"service": service, "incidents": incidents}
    return None


def _public_detail(cells: list[Cell], snap: Snapshot, ctx: ViewContext) -> dict[str, Any]:
    where = cell_of(cells)
    rows: list[dict[str, Any]] = []
    for inc in sorted(snap.incidents, key=lambda i: i.started_at, reverse=True):
        cell = where.get(inc.service_id)
        if cell is None or inc.maintenance or not _recent(inc, snap.as_of, ctx):
            continue
        row = {
            "ref": pseudonym("incident", inc.incident_id, ctx.redaction_key)[10:-1],
            "cell": cell.label,
            "sector": cell.sector,
            "region": cell.region,
            "started_at": inc.started_at,
            "restored_at": inc.restored_at,
            "duration_s": inc.end_or(snap.as_of) - inc.started_at,
            "time_to_restore_s": inc.time_to_restore_s,
            "customers_affected": inc.customers_affected,
        }
        rows.append(_project(row, PUBLIC_INCIDENT_FIELDS))
    by_cell: dict[str, list[IncidentRecord]] = {}
    for inc in snap.incidents:
        if inc.service_id in where:
            by_cell.setdefault(where[inc.service_id].label, []).append(inc)
    seen = {s.service_id: s.seen_from() for s in snap.services}
    bars = [
        _bars(
            c.label,
            by_cell.get(c.label, []),
            [seen[sid] for sid in c.service_ids],
            snap.as_of,
            ctx,
        )
        for c in cells
    ]
    return {
        "open_incidents": [r for r in rows if r["restored_at"] is None],
        "history": [r for r in rows if r["restored_at"] is not None],
        "availability": bars,
    }


def _service_detail(
    services: Sequence[ServiceState],
    incidents: Sequence[IncidentRecord],
    as_of: float,
    ctx: ViewContext,
    service_fields: Sequence[str],
    incident_fields: Sequence[str],
    *,
    bars_by: str,
) -> dict[str, Any]:
    rows = [
        _project(_incident_dict(i, as_of), incident_fields)
        for i in sorted(incidents, key=lambda i: i.started_at, reverse=True)
        if _recent(i, as_of, ctx)
    ]
    groups: dict[str, list[ServiceState]] = {}
    for s in services:
        groups.setdefault(str(getattr(s, bars_by)), []).append(s)
    bars = [
        _bars(
            name,
            [i for i in incidents if str(getattr(i, bars_by)) == name],
            [m.seen_from() for m in members],
            as_of,
            ctx,
        )
        for name, members in sorted(groups.items())
    ]
    return {
        "services": [
            _project(_service_dict(s), service_fields)
            for s in sorted(services, key=lambda s: (s.sector, s.region, s.service_id))
        ],
        "open_incidents": [r for r in rows if r["restored_at"] is None],
        "history": [r for r in rows if r["restored_at"] is not None],
        "availability": bars,
    }


def _cell_rows(cells: Iterable[Cell], snap: Snapshot) -> list[dict[str, Any]]:
    where = cell_of(cells)
    open_by_cell: dict[str, list[IncidentRecord]] = {}
    for inc in snap.incidents:
        if inc.is_open and not inc.maintenance and inc.service_id in where:
            open_by_cell.setdefault(where[inc.service_id].label, []).append(inc)
    rows = []
    for cell in cells:
        open_incidents = open_by_cell.get(cell.label, [])
        rows.append(
            {
                "label": cell.label,
                "sector": cell.sector,
                "region": cell.region,
                "services": cell.services,
                "operators": cell.operators,
                "status": cell.status,
                "status_counts": dict(sorted(cell.status_counts.items())),
                "share_up": cell.share_up,
                "open_incidents": len(open_incidents),
                "customers_affected": sum(i.customers_affected or 0 for i in open_incidents),
                "open_since": _iso(min(i.started_at for i in open_incidents))
                if open_incidents
                else None,
            }
        )
    return rows


def _bars(
    name: str,
    incidents: list[IncidentRecord],
    first_seen: Sequence[float],
    as_of: float,
    ctx: ViewContext,
) -> dict[str, Any]:
    days = daily_availability(incidents, first_seen=first_seen, days=ctx.history_days, now=as_of)
    measured = [d.availability for d in days if d.availability is not None]
    return {
        "name": name,
        "availability": sum(measured) / len(measured) if measured else None,
        "bars": [
            {
                "day": d.day,
                "availability": d.availability,
                "level": d.level,
                "incidents": d.incidents,
            }
            for d in days
        ],
    }


def _overall(statuses: Sequence[str]) -> dict[str, str]:
    worst = max((Status(s) for s in statuses), key=lambda s: STATUS_SEVERITY[s], default=Status.UP)
    text = {
        Status.UP: "All published services operational",
        Status.MAINTENANCE: "Maintenance in progress",
        Status.DEGRADED: "Some services degraded",
        Status.UNKNOWN: "Some services not reporting",
        Status.DOWN: "Service disruption",
    }[worst]
    return {"status": worst.value, "description": text}


def _recent(inc: IncidentRecord, as_of: float, ctx: ViewContext) -> bool:
    return inc.is_open or inc.end_or(as_of) >= as_of - ctx.history_days * 86_400.0


def _service_dict(s: ServiceState) -> dict[str, Any]:
    return {
        "service_id": s.service_id,
        "operator_id": s.operator_id,
        "sector": s.sector,
        "region": s.region,
        "status": s.status,
        "since": s.since,
        "reason": s.reason,
        "customers_served": s.customers_served,
        "customers_affected": s.customers_affected,
    }


def _incident_dict(i: IncidentRecord, as_of: float) -> dict[str, Any]:
    return {
        "duration_s": i.end_or(as_of) - i.started_at,
        "incident_id": i.incident_id,
        "service_id": i.service_id,
        "operator_id": i.operator_id,
        "sector": i.sector,
        "region": i.region,
        "started_at": i.started_at,
        "detected_at": i.detected_at,
        "acknowledged_at": i.acknowledged_at,
        "restored_at": i.restored_at,
        "severity": i.severity,
        "customers_affected": i.customers_affected,
        "users_affected": i.users_affected,
        "maintenance": i.maintenance,
        "time_to_detect_s": i.time_to_detect_s,
        "time_to_restore_s": i.time_to_restore_s,
        "last_event": i.last_event,
    }


def _project(row: dict[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    """Only ``fields``; times as RFC 3339 strings."""
    return {
        f: (_iso(row[f]) if f in _TIME_FIELDS and row[f] is not None else row[f]) for f in fields
    }


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
