"""Substation / feeder switching state (SCADA or OMS export rows) → energy status reports.

Rows, CSV or JSON (a list or ``{"rows": [...]}``)::

    observed_at,feeder_id,state,customers_served,customers_affected
    2023-11-14T22:00:00Z,sub-7/f12,tripped,1200,

``feeder_id`` maps to a service (``map``), else the default service.  ``state`` is read
case-insensitively: energized / in_service / closed → *up*; partial / reduced → *degraded*;
de-energized / out_of_service / tripped / open / locked_out → *down*; maintenance /
planned_outage → *maintenance*; unknown → *unknown*.  A *down* feeder with no
``customers_affected`` counts all its customers (served from the row or the declaration).

>>> from connectors.base import FeedContext, ServiceSpec
>>> svc = ServiceSpec("op", "grid.f12", "energy", "UA-30", 60.0, customers_served=1200)
>>> ctx = FeedContext("scada", 1_700_000_100.0, services={"f12": svc})
>>> [(o.status.value, o.customers_affected) for o in parse_feeder_status(
...     b"observed_at,feeder_id,state\\n1700000000,f12,TRIPPED\\n", ctx).observations]
[('down', 1200)]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connectors.base import FeedContext, ParseResult, Rejection
from connectors.parsers._common import as_count, as_time, load_rows, rejected, snippet
from pipeline.core.schema import Kind, Status

STATES: dict[str, Status] = {
    "energized": Status.UP,
    "in_service": Status.UP,
    "closed": Status.UP,
    "partial": Status.DEGRADED,
    "reduced": Status.DEGRADED,
    "de-energized": Status.DOWN,
    "deenergized": Status.DOWN,
    "out_of_service": Status.DOWN,
    "tripped": Status.DOWN,
    "open": Status.DOWN,
    "locked_out": Status.DOWN,
    "maintenance": Status.MAINTENANCE,
    "planned_outage": Status.MAINTENANCE,
    "unknown": Status.UNKNOWN,
}


@dataclass(frozen=True, slots=True)
class FeederStatusOptions:
    """Feeder status rows have no options today."""


def parse_feeder_status(
    raw: bytes, ctx: FeedContext, options: FeederStatusOptions | None = None
) -> ParseResult:
    """Map feeder rows (see module docstring); one bad row rejects only itself."""
    rows = load_rows(raw, ctx, "rows")
    if isinstance(rows, Rejection):
        return rejected(rows)
    result = ParseResult()
    for index, row in enumerate(rows):
        _row(row, f"rows[{index}]", ctx, result)
    return result


def _row(row: Any, where: str, ctx: FeedContext, out: ParseResult) -> None:
    original = snippet(row)
    if not isinstance(row, dict):
        out.add(ctx.reject("invalid_field", where, "row must be an object", original))
        return
    stamp = as_time(row.get("observed_at"))
    if stamp is None:
        out.add(ctx.reject("invalid_field", f"{where}.observed_at", "needs a time", original))
        return
    feeder = row.get("feeder_id")
    if not isinstance(feeder, str) or not feeder.strip():
        out.add(ctx.reject("missing_field", f"{where}.feeder_id", "is required", original))
        return
    state = row.get("state")
    state_text = state.strip() if isinstance(state, str) else ""
    status = STATES.get(state_text.lower())
    if status is None:
        out.add(
            ctx.reject(
                "invalid_field",
                f"{where}.state",
                f"{str(state)[:40]!r} is not one of {sorted(STATES)}",
                original,
            )
        )
        return
    counts: dict[str, int | None] = {}
    for name in ("customers_served", "customers_affected"):
        if row.get(name) in (None, ""):
            counts[name] = None
            continue
        counts[name] = as_count(row[name])
        if counts[name] is None:
            out.add(
                ctx.reject("invalid_field", f"{where}.{name}", "must be a whole number", original)
            )
            return
    service = ctx.resolve(feeder.strip())
    if service is None:
        out.skipped["unmapped_feeder"] += 1
        return
    served = counts["customers_served"] or service.customers_served
    affected = counts["customers_affected"]
    if affected is None and status is Status.DOWN:
        affected = served  # a dead feeder leaves all its customers out
    out.add(
        ctx.observe(
            service,
            kind=Kind.STATUS_REPORT,
            observed_at=stamp,
            status=status,
            customers_served=served,
            customers_affected=affected,
            attrs={"feeder_id": feeder.strip()[:128], "state": state_text[:40]},
            id_parts=(feeder.strip(),),
            original=original,
        )
    )
