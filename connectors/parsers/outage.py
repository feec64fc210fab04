"""Utility outage reports → energy ``outage_report`` observations.

Three shapes, all "customers out per area at a time":

* ``aes_xml`` — the AES Ohio outage-map XML (``<Counties><County/><TotOut/></Counties>``,
  ``<Message><TotalOut/><Outageat/></Message>``, incident ``<Markers>``).  ``Outageat`` is
  local wall time without an offset, so the feed's ``timezone`` option is required.
* ``rows`` — generic JSON (list or ``{"areas": [...]}``) or CSV rows:
  ``observed_at,area,customers_out,customers_served`` (``customers_affected`` also accepted).
* ``kubra`` — the Kubra Storm Center ``summary`` JSON (``summaryFileData.totals[0]``).

Each mapped area (by name, case-insensitive) becomes an ``outage_report`` with
``customers_affected``; ``customers_served`` comes from the feed when it has it, else from the
service declaration.  The feed-wide total goes to the default service.  Status: nobody out →
*up*; at least ``down_ratio`` of customers out → *down*; else *degraded*.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectors.base import (
    FeedContext,
    OptionsError,
    ParseResult,
    Rejection,
    ServiceSpec,
    check_choice,
)
from connectors.parsers._common import (
    as_count,
    as_time,
    describe_tag,
    load_json,
    load_rows,
    load_xml,
    rejected,
    snippet,
)
from pipeline.core.schema import Kind, Status

_AES_TIME_FORMATS = ("%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %I:%M %p")
_MAX_INCIDENTS = 20


@dataclass(frozen=True, slots=True)
class OutageOptions:
    format: str = "rows"  # aes_xml | rows | kubra
    timezone: str | None = None  # required for aes_xml: its times carry no offset
    down_ratio: float = 0.5

    def __post_init__(self) -> None:
        check_choice("format", self.format, ("aes_xml", "rows", "kubra"))
        if self.format == "aes_xml" and not self.timezone:
            raise OptionsError("timezone", "aes_xml times carry no offset: name the IANA zone")
        if self.timezone:
            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise OptionsError("timezone", f"{self.timezone!r} is not an IANA zone") from None
        if not 0 < self.down_ratio <= 1:
            raise OptionsError("down_ratio", "must be in (0, 1]")


def parse_outage(raw: bytes, ctx: FeedContext, options: OutageOptions | None = None) -> ParseResult:
    """Dispatch on ``options.format`` (see module docstring)."""
    opts = options or OutageOptions()
    if opts.format == "aes_xml":
        return _aes(raw, ctx, opts)
    if opts.format == "kubra":
        return _kubra(raw, ctx, opts)
    return _rows(raw, ctx, opts)


def _status(affected: int, served: int | None, opts: OutageOptions) -> Status:
    if affected == 0:
        return Status.UP
    if served and affected >= opts.down_ratio * served:
        return Status.DOWN
    return Status.DEGRADED


def _report(
    service: ServiceSpec,
    area: str,
    stamp: float,
    affected: int,
    served: int | None,
    ctx: FeedContext,
    opts: OutageOptions,
    attrs: dict[str, Any],
    original: bytes,
) -> Rejection | Any:
    served = served if served is not None else service.customers_served
    return ctx.observe(
        service,
        kind=Kind.OUTAGE_REPORT,
        observed_at=stamp,
        status=_status(affected, served, opts),
        customers_affected=affected,
        customers_served=served,
        attrs={"area": area[:128], **attrs},
        id_parts=(area,),
        original=original,
    )


def _service_for(ctx: FeedContext, area: str) -> ServiceSpec | None:
    if area in ctx.services:
        return ctx.services[area]
    folded = area.casefold()
    return next((s for k, s in ctx.services.items() if k.casefold() == folded), None)


# -- AES Ohio XML -------------------------------------------------------------------------


def _aes(raw: bytes, ctx: FeedContext, opts: OutageOptions) -> ParseResult:
    if not opts.timezone:
        return rejected(ctx.reject("missing_field", "options.timezone", "aes_xml needs it", raw))
    try:
        zone = ZoneInfo(opts.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        return rejected(ctx.reject("invalid_field", "options.timezone", str(exc), raw))
    root = load_xml(raw, ctx)
    if isinstance(root, Rejection):
        return rejected(root)
    if root.tag != "Incidents":
        return rejected(
            ctx.reject(
                "unexpected_format",
                None,
                f"the root element is {describe_tag(root.tag)}, not <Incidents>: "
                "format aes_xml expects AES Ohio's outage XML",
                raw,
            )
        )
    stamp_text = (root.findtext("Message/Outageat") or "").strip()
    stamp = _local_time(stamp_text, zone)
    if stamp is None:
        return rejected(
            ctx.reject("invalid_field", "Message.Outageat", f"{stamp_text[:40]!r} unreadable", raw)
        )
    incidents = _incidents(root)
    result = ParseResult()
    for county in root.findall("Counties"):
        name = (county.findtext("County") or "").strip()
        out = as_count(county.findtext("TotOut"))
        if not name or out is None:
            result.add(
                ctx.reject(
                    "invalid_field", "Counties", "needs County and TotOut >= 0", ET.tostring(county)
                )
            )
            continue
        service = _service_for(ctx, name)
        if service is None:
            result.skipped["unmapped_area"] += 1
            continue
        attrs = {"incidents": incidents.get(name.casefold(), [])[:_MAX_INCIDENTS]}
        result.add(_report(service, name, stamp, out, None, ctx, opts, attrs, ET.tostring(county)))
    total = as_count(root.findtext("Message/TotalOut"))
    if ctx.default_service is not None:
        if total is None:
            result.add(ctx.reject("invalid_field", "Message.TotalOut", "must be >= 0", raw))
        else:
            totals = {"incident_count": sum(len(v) for v in incidents.values())}
            result.add(
                _report(ctx.default_service, "*", stamp, total, None, ctx, opts, totals, b"")
            )
    return result


def _local_time(text: str, zone: ZoneInfo) -> float | None:
    for fmt in _AES_TIME_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=zone).timestamp()
        except ValueError:
            continue
    return None


def _incidents(root: ET.Element) -> dict[str, list[dict[str, Any]]]:
    """Incident markers per county (casefolded): id, customers, start and estimate."""
    found: dict[str, list[dict[str, Any]]] = {}
    for marker in root.findall("Markers"):
        county = (marker.findtext("COUNTY") or "").strip().casefold()
        found.setdefault(county, []).append(
            {
                "id": (marker.findtext("INCIDENTID") or "")[:32],
                "customers": as_count(marker.findtext("TOTALCUSTS")),
                "since": (marker.findtext("OutageTime") or "")[:32],
                "estimate": (marker.findtext("EstimateTime") or "")[:32],
            }
        )
    return found


# -- generic rows -------------------------------------------------------------------------


def _rows(raw: bytes, ctx: FeedContext, opts: OutageOptions) -> ParseResult:
    rows = load_rows(raw, ctx, "areas")
    if isinstance(rows, Rejection):
        return rejected(rows)
    result = ParseResult()
    for index, row in enumerate(rows):
        _row(row, f"areas[{index}]", ctx, opts, result)
    return result


def _row(row: Any, where: str, ctx: FeedContext, opts: OutageOptions, out: ParseResult) -> None:
    original = snippet(row)
    if not isinstance(row, dict):
        out.add(ctx.reject("invalid_field", where, "row must be an object", original))
        return
    stamp = as_time(row.get("observed_at"))
    if stamp is None:
        out.add(ctx.reject("invalid_field", f"{where}.observed_at", "needs a time", original))
        return
    area = row.get("area")
    if not isinstance(area, str) or not area.strip():
        out.add(ctx.reject("missing_field", f"{where}.area", "is required", original))
        return
    key = "customers_out" if "customers_out" in row else "customers_affected"
    affected = as_count(row.get(key))
    if affected is None:
        out.add(ctx.reject("invalid_field", f"{where}.{key}", "must be a whole number", original))
        return
    served: int | None = None
    if row.get("customers_served") not in (None, ""):
        served = as_count(row["customers_served"])
        if served is None:
            out.add(
                ctx.reject(
                    "invalid_field", f"{where}.customers_served", "must be a whole number", original
                )
            )
            return
    service = _service_for(ctx, area.strip()) or (
        ctx.default_service if area.strip() == "*" else None
    )
    if service is None:
        out.skipped["unmapped_area"] += 1
        return
    out.add(_report(service, area.strip(), stamp, affected, served, ctx, opts, {}, original))


# -- Kubra summary ------------------------------------------------------------------------


def _kubra(raw: bytes, ctx: FeedContext, opts: OutageOptions) -> ParseResult:
    data = load_json(raw, ctx)
    if isinstance(data, Rejection):
        return rejected(data)
    summary: Any = data.get("summaryFileData") if isinstance(data, dict) else None
    totals = summary.get("totals") if isinstance(summary, dict) else None
    if not isinstance(totals, list) or not totals or not isinstance(totals[0], dict):
        return rejected(ctx.reject("missing_field", "summaryFileData.totals", "is required", raw))
    stamp = as_time(summary.get("date_generated"))
    if stamp is None:
        return rejected(
            ctx.reject("invalid_field", "summaryFileData.date_generated", "needs a time", raw)
        )
    first = totals[0]
    out_block = first.get("total_cust_a")
    affected = as_count(out_block.get("val") if isinstance(out_block, dict) else out_block)
    served = as_count(first.get("total_cust_s"))
    if affected is None or served is None:
        return rejected(
            ctx.reject(
                "invalid_field",
                "summaryFileData.totals[0]",
                "needs total_cust_a.val and total_cust_s as whole numbers",
                raw,
            )
        )
    if ctx.default_service is None:
        return rejected(ctx.reject("unknown_service", "service", "feed has no service", raw))
    result = ParseResult()
    attrs = {"outages": as_count(first.get("total_outages"))}
    result.add(_report(ctx.default_service, "*", stamp, affected, served, ctx, opts, attrs, raw))
    return result
