"""``summary.json`` in the shape of Atlassian Statuspage's public API (``/api/v2/summary.json``),
built from an audience's view, so existing Statuspage clients and widgets can read it.

Components are the view's groups: sector x region cells for the public, services for
verifiers and operators. Only unresolved incidents are listed, as Statuspage does.

>>> view = {"generated_at": "2026-01-01T00:00:00Z", "audience": "public",
...         "overall": {"status": "up", "description": "ok"}, "cells": [], "open_incidents": []}
>>> summary(view, page_name="Continuity Watch", page_url="http://x/")["status"]
{'indicator': 'none', 'description': 'ok'}
"""

from __future__ import annotations

import re
from typing import Any

_COMPONENT_STATUS = {
    "up": "operational",
    "degraded": "degraded_performance",
    "unknown": "partial_outage",
    "down": "major_outage",
    "maintenance": "under_maintenance",
}
_INDICATOR = {
    "up": "none",
    "maintenance": "minor",
    "degraded": "minor",
    "unknown": "major",
    "down": "major",
}
PAGE_ID = "continuity-watch"


def slug(text: str) -> str:
    """A component id from a label.

    >>> slug("energy · UA-30")
    'energy-ua-30'
    """
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def summary(view: dict[str, Any], *, page_name: str, page_url: str) -> dict[str, Any]:
    """The Statuspage-compatible summary of ``view``."""
    updated = view["generated_at"]
    components = [
        _component(position, comp, updated)
        for position, comp in enumerate(_components(view), start=1)
    ]
    return {
        "page": {
            "id": PAGE_ID,
            "name": page_name,
            "url": page_url,
            "time_zone": "Etc/UTC",
            "updated_at": updated,
        },
        "components": components,
        "incidents": [_incident(row, updated) for row in view["open_incidents"]],
        "scheduled_maintenances": [],
        "status": {
            "indicator": _INDICATOR.get(view["overall"]["status"], "major"),
            "description": view["overall"]["description"],
        },
    }


def _components(view: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(id, name, component status) per group of the view."""
    if "services" in view and view["audience"] != "public":
        return [
            (
                slug(s["service_id"]),
                s["service_id"],
                _COMPONENT_STATUS.get(s["status"], "major_outage"),
            )
            for s in view["services"]
        ]
    out = []
    for cell in view["cells"]:
        status = _COMPONENT_STATUS.get(cell["status"], "major_outage")
        if status == "major_outage" and cell["status_counts"].get("down", 0) < cell["services"]:
            status = "partial_outage"
        out.append((slug(cell["label"]), cell["label"], status))
    return out


def _component(position: int, comp: tuple[str, str, str], updated: str) -> dict[str, Any]:
    component_id, name, status = comp
    return {
        "id": component_id,
        "name": name,
        "status": status,
        "created_at": updated,
        "updated_at": updated,
        "position": position,
        "description": None,
        "showcase": True,
        "start_date": None,
        "group_id": None,
        "page_id": PAGE_ID,
        "group": False,
        "only_show_if_degraded": False,
    }


def _incident(row: dict[str, Any], updated: str) -> dict[str, Any]:
    if "ref" in row:  # a public cell row
        incident_id, name, component = row["ref"], f"Disruption in {row['cell']}", row["cell"]
    else:
        incident_id = slug(row["incident_id"])
        name = f"{row['service_id']} {row['severity']}"
        component = row["service_id"]
    acknowledged = row.get("acknowledged_at") is not None
    return {
        "id": incident_id,
        "name": name,
        "status": "identified" if acknowledged else "investigating",
        "created_at": row["started_at"],
        "updated_at": updated,
        "monitoring_at": None,
        "resolved_at": None,
        "impact": "critical" if (row.get("customers_affected") or 0) >= 10_000 else "major",
        "shortlink": None,
        "started_at": row["started_at"],
        "page_id": PAGE_ID,
        "incident_updates": [],
        "components": [{"id": slug(component), "name": component}],
        "customers_affected": row.get("customers_affected"),
    }
