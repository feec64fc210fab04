"""Atlassian Statuspage ``/api/v2/summary.json`` → status reports.

Each mapped component (by component ``id`` or ``name``) becomes a ``status_report``; the page's
overall ``status.indicator`` goes to the feed's default service.  The observation time is the
page's ``updated_at`` (the moment this snapshot describes), so re-polling an unchanged page
gives the same event ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connectors.base import FeedContext, ParseResult, Rejection, ServiceSpec
from connectors.parsers._common import as_time, load_json, rejected, snippet
from pipeline.core.schema import Kind, Status

COMPONENT_STATUS: dict[str, Status] = {
    "operational": Status.UP,
    "degraded_performance": Status.DEGRADED,
    "partial_outage": Status.DEGRADED,
    "major_outage": Status.DOWN,
    "under_maintenance": Status.MAINTENANCE,
}

INDICATOR_STATUS: dict[str, Status] = {
    "none": Status.UP,
    "minor": Status.DEGRADED,
    "major": Status.DEGRADED,
    "critical": Status.DOWN,
    "maintenance": Status.MAINTENANCE,
}


@dataclass(frozen=True, slots=True)
class StatuspageOptions:
    """Statuspage has no options today; the class keeps the parser signature uniform."""


def parse_statuspage(
    raw: bytes, ctx: FeedContext, options: StatuspageOptions | None = None
) -> ParseResult:
    """Map a Statuspage summary to status reports (see module docstring)."""
    data = load_json(raw, ctx)
    if isinstance(data, Rejection):
        return rejected(data)
    if not isinstance(data, dict):
        return rejected(ctx.reject("unexpected_format", None, "summary must be an object", raw))
    page = data.get("page")
    updated = as_time(page.get("updated_at")) if isinstance(page, dict) else None
    if updated is None:
        return rejected(
            ctx.reject("missing_field", "page.updated_at", "an RFC 3339 time is required", raw)
        )
    components = data.get("components", [])
    if not isinstance(components, list):
        return rejected(ctx.reject("invalid_field", "components", "must be a list", raw))
    result = ParseResult()
    for index, component in enumerate(components):
        _component(component, index, updated, ctx, result)
    _indicator(data.get("status"), updated, ctx, result, raw)
    return result


def _component(
    component: Any, index: int, updated: float, ctx: FeedContext, result: ParseResult
) -> None:
    where = f"components[{index}]"
    if not isinstance(component, dict):
        result.add(ctx.reject("invalid_field", where, "must be an object", snippet(component)))
        return
    cid, name = component.get("id"), component.get("name")
    service = _mapped(ctx, cid, name)
    if service is None:
        result.skipped["unmapped_component"] += 1
        return
    raw_status = component.get("status")
    status = COMPONENT_STATUS.get(raw_status) if isinstance(raw_status, str) else None
    if status is None:
        result.add(
            ctx.reject(
                "invalid_field",
                f"{where}.status",
                f"{raw_status!r} is not one of {sorted(COMPONENT_STATUS)}",
                snippet(component),
            )
        )
        return
    attrs = {"component_id": str(cid), "component_name": str(name), "native_status": raw_status}
    changed = as_time(component.get("updated_at"))
    if changed is not None:
        attrs["status_since"] = component["updated_at"]
    result.add(
        ctx.observe(
            service,
            kind=Kind.STATUS_REPORT,
            observed_at=updated,
            status=status,
            attrs=attrs,
            id_parts=(cid,),
            original=snippet(component),
        )
    )


def _mapped(ctx: FeedContext, cid: Any, name: Any) -> ServiceSpec | None:
    for key in (cid, name):
        if isinstance(key, str) and key in ctx.services:
            return ctx.services[key]
    return None


def _indicator(
    status: Any, updated: float, ctx: FeedContext, result: ParseResult, raw: bytes
) -> None:
    if ctx.default_service is None:
        return
    indicator = status.get("indicator") if isinstance(status, dict) else None
    mapped = INDICATOR_STATUS.get(indicator) if isinstance(indicator, str) else None
    if mapped is None:
        result.add(
            ctx.reject(
                "invalid_field",
                "status.indicator",
                f"{indicator!r} is not one of {sorted(INDICATOR_STATUS)}",
                raw,
            )
        )
        return
    result.add(
        ctx.observe(
            ctx.default_service,
            kind=Kind.STATUS_REPORT,
            observed_at=updated,
            status=mapped,
            attrs={"indicator": indicator},
            id_parts=("page",),
        )
    )
