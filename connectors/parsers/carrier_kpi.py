"""Carrier network KPIs (CSV or JSON rows) → telecom ``kpi`` observations.

One row per area and time, the shape carriers' NOC exports already have:

``observed_at,area,cells_total,cells_in_service,sites_total,sites_in_service,subscribers_served,subscribers_affected``

``observed_at`` (RFC 3339 or epoch seconds) and ``area`` are required, plus at least one of
``cells_in_service`` / ``sites_in_service``.  ``area`` maps to a service (else the default
service).  Each row becomes one ``kpi``: ``metric`` ``cells_in_service`` (or
``sites_in_service``), ``value`` the count, the totals in ``attrs``, and subscribers as
``customers_served`` / ``customers_affected`` so indicators can weight by users (FCC NORS
user-minutes).  JSON is a list of such objects or ``{"rows": [...]}``.

>>> from connectors.base import FeedContext, ServiceSpec
>>> svc = ServiceSpec("op", "mobile.kyiv", "telecom", "UA-30", 300.0)
>>> ctx = FeedContext(source="noc", now=1_700_000_100.0, services={"kyiv": svc})
>>> raw = b"observed_at,area,cells_total,cells_in_service\\n1700000000,kyiv,120,90\\n"
>>> [(o.metric, o.value, o.attrs["cells_total"]) for o in parse_carrier_kpi(raw, ctx).observations]
[('cells_in_service', 90.0, 120)]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connectors.base import FeedContext, ParseResult, Rejection, check_choice
from connectors.parsers._common import as_count, as_time, load_rows, rejected, snippet
from pipeline.core.schema import Kind

_COUNTS = (
    "cells_total",
    "cells_in_service",
    "sites_total",
    "sites_in_service",
    "subscribers_served",
    "subscribers_affected",
)


@dataclass(frozen=True, slots=True)
class CarrierKpiOptions:
    format: str = "auto"  # auto | csv | json

    def __post_init__(self) -> None:
        check_choice("format", self.format, ("auto", "csv", "json"))


def parse_carrier_kpi(
    raw: bytes, ctx: FeedContext, options: CarrierKpiOptions | None = None
) -> ParseResult:
    """Map KPI rows (see module docstring); one bad row rejects only itself."""
    opts = options or CarrierKpiOptions()
    rows = load_rows(raw, ctx, "rows", fmt=opts.format)
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
        out.add(
            ctx.reject(
                "missing_field" if row.get("observed_at") in (None, "") else "invalid_field",
                f"{where}.observed_at",
                "needs an RFC 3339 time or epoch seconds",
                original,
            )
        )
        return
    area = row.get("area")
    if not isinstance(area, str) or not area.strip():
        out.add(ctx.reject("missing_field", f"{where}.area", "is required", original))
        return
    counts: dict[str, int] = {}
    for name in _COUNTS:
        if row.get(name) in (None, ""):
            continue
        value = as_count(row[name])
        if value is None:
            out.add(
                ctx.reject(
                    "invalid_field", f"{where}.{name}", "must be a whole number >= 0", original
                )
            )
            return
        counts[name] = value
    metric = next((m for m in ("cells_in_service", "sites_in_service") if m in counts), None)
    if metric is None:
        out.add(
            ctx.reject(
                "missing_field",
                f"{where}.cells_in_service",
                "a row needs cells_in_service or sites_in_service",
                original,
            )
        )
        return
    unit = metric.split("_", 1)[0]
    total = counts.get(f"{unit}_total")
    if total is not None and counts[metric] > total:
        out.add(
            ctx.reject(
                "invalid_field",
                f"{where}.{metric}",
                f"{counts[metric]} exceeds {unit}_total {total}",
                original,
            )
        )
        return
    service = ctx.resolve(area.strip())
    if service is None:
        out.skipped["unmapped_area"] += 1
        return
    attrs: dict[str, Any] = {"area": area.strip()[:128]}
    attrs.update({k: v for k, v in counts.items() if k != metric and not k.startswith("sub")})
    out.add(
        ctx.observe(
            service,
            kind=Kind.KPI,
            observed_at=stamp,
            metric=metric,
            value=float(counts[metric]),
            unit=unit,
            customers_served=counts.get("subscribers_served"),
            customers_affected=counts.get("subscribers_affected"),
            attrs=attrs,
            id_parts=(area.strip(),),
            original=original,
        )
    )
