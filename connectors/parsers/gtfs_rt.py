"""GTFS-Realtime (protobuf ``FeedMessage``) → transport evidence.

* **Liveness** (default service): a fresh feed (``header.timestamp`` no older than
  ``stale_after_s``) is a ``heartbeat`` *up* at the header time; with TripUpdates or
  VehiclePositions it also gives a ``kpi`` ``vehicles_reporting`` (distinct vehicles, the
  level signal for IODA-style drop detection).  A stale feed is a ``status_report`` at poll
  time: *degraded*, then *unknown* after ``unknown_after_s``.
* **Alerts** (mapped routes): each route in ``services`` gets one ``status_report`` per feed
  version: the worst effect of the alerts active at the header time (NO_SERVICE → down,
  REDUCED_SERVICE / SIGNIFICANT_DELAYS → degraded), or *up* when none applies.  NO_SERVICE
  that names stops or trips as well as the route (a station closure) is *degraded*: the
  route still runs.  Only enable ``report_routes`` on a ServiceAlerts feed.
"""

from __future__ import annotations

import importlib
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from google.transit import gtfs_realtime_pb2

from connectors.base import FeedContext, OptionsError, ParseResult
from connectors.parsers._common import rejected, sniff_format, too_big
from pipeline.core.schema import STATUS_SEVERITY, Kind, Status

# Looked up rather than imported: protobuf ships no stubs and the project's mypy override
# covers google.transit only; this needs neither a type: ignore nor a pyproject change.
_DecodeError: type[Exception] = importlib.import_module("google.protobuf.message").DecodeError
_ALERT = gtfs_realtime_pb2.Alert
#: Effects that are availability evidence; others (DETOUR, STOP_MOVED...) are counted skips.
EFFECT_STATUS: dict[int, Status] = {
    _ALERT.NO_SERVICE: Status.DOWN,
    _ALERT.REDUCED_SERVICE: Status.DEGRADED,
    _ALERT.SIGNIFICANT_DELAYS: Status.DEGRADED,
}
_MAX_LISTED = 20  # alert ids kept in attrs; attrs must stay small


@dataclass(frozen=True, slots=True)
class GtfsRtOptions:
    stale_after_s: float = 120.0
    unknown_after_s: float = 900.0
    report_routes: bool = True

    def __post_init__(self) -> None:
        if self.unknown_after_s < self.stale_after_s:
            raise OptionsError("unknown_after_s", "must be >= stale_after_s")


def parse_gtfs_rt(
    raw: bytes, ctx: FeedContext, options: GtfsRtOptions | None = None
) -> ParseResult:
    """Decode one FeedMessage and map it (see module docstring)."""
    opts = options or GtfsRtOptions()
    if (big := too_big(raw, ctx)) is not None:
        return rejected(big)
    feed = gtfs_realtime_pb2.FeedMessage()
    try:
        feed.ParseFromString(raw)
    except (_DecodeError, RuntimeError, ValueError) as exc:
        found = sniff_format(raw)
        detail = (
            f"this is {found}, not a binary GTFS-RT FeedMessage; point the feed at the "
            "protobuf URL (often .pb, without ?format=json or debug/text output)"
            if found
            else f"not a readable GTFS-RT FeedMessage ({exc or 'decode error'}); truncated?"
        )
        return rejected(ctx.reject("malformed_protobuf", None, detail, raw))
    if not feed.header.gtfs_realtime_version:
        return rejected(
            ctx.reject("missing_field", "header.gtfs_realtime_version", "is required", raw)
        )
    if not feed.header.HasField("timestamp") or feed.header.timestamp == 0:
        return rejected(ctx.reject("missing_field", "header.timestamp", "is required", raw))
    stamp = float(feed.header.timestamp)
    result = ParseResult()
    _liveness(feed, stamp, ctx, opts, result)
    if opts.report_routes and ctx.services:
        _routes(feed, stamp, ctx, result)
    return result


def _liveness(
    feed: Any, stamp: float, ctx: FeedContext, opts: GtfsRtOptions, result: ParseResult
) -> None:
    service = ctx.default_service
    if service is None:
        return
    age = ctx.now - stamp
    if age > opts.stale_after_s:
        status = Status.DEGRADED if age <= opts.unknown_after_s else Status.UNKNOWN
        # Keyed on the header time and level, not on now: each stale step is one event.
        result.add(
            ctx.observe(
                service,
                kind=Kind.STATUS_REPORT,
                observed_at=ctx.now,
                status=status,
                metric="feed_age",
                value=age,
                unit="s",
                attrs={"header_timestamp": int(stamp)},
                id_parts=("stale", status.value),
                id_time=stamp,
            )
        )
        return
    vehicles: set[str] = set()
    trips = 0
    for entity in feed.entity:
        if entity.HasField("vehicle"):
            vehicles.add(_vehicle_key(entity.vehicle.vehicle, entity.id))
        if entity.HasField("trip_update"):
            trips += 1
            if entity.trip_update.HasField("vehicle"):
                vehicles.add(_vehicle_key(entity.trip_update.vehicle, entity.id))
    attrs = {"entities": len(feed.entity), "trip_updates": trips}
    result.add(
        ctx.observe(service, kind=Kind.HEARTBEAT, observed_at=stamp, status=Status.UP, attrs=attrs)
    )
    if vehicles or trips:
        result.add(
            ctx.observe(
                service,
                kind=Kind.KPI,
                observed_at=stamp,
                metric="vehicles_reporting",
                value=float(len(vehicles)),
                unit="vehicles",
                attrs=attrs,
            )
        )


def _vehicle_key(descriptor: Any, fallback: str) -> str:
    return str(descriptor.id or descriptor.label or fallback)


def _routes(feed: Any, stamp: float, ctx: FeedContext, result: ParseResult) -> None:
    found: dict[str, list[tuple[Status, str, Any]]] = defaultdict(list)
    for entity in feed.entity:
        if not entity.HasField("alert"):
            continue
        alert = entity.alert
        base = EFFECT_STATUS.get(alert.effect)
        if base is None:
            result.skipped["alert_effect_not_tracked"] += 1
            continue
        if not _active(alert, stamp):
            result.skipped["alert_not_active"] += 1
            continue
        for route, partial in _informed_routes(alert).items():
            if route not in ctx.services:
                result.skipped["unmapped_route"] += 1
                continue
            status = Status.DEGRADED if base is Status.DOWN and partial else base
            found[route].append((status, entity.id, alert))
    for route, service in sorted(ctx.services.items()):
        hits = found.get(route, [])
        status = max((s for s, _, _ in hits), key=STATUS_SEVERITY.__getitem__, default=Status.UP)
        attrs: dict[str, Any] = {"route_id": route}
        if hits:
            attrs["alert_ids"] = [alert_id for _, alert_id, _ in hits][:_MAX_LISTED]
            attrs["effects"] = sorted({_ALERT.Effect.Name(a.effect) for _, _, a in hits})
            starts = [p.start for _, _, a in hits for p in a.active_period if p.start]
            if starts:
                attrs["active_since"] = min(starts)
        result.add(
            ctx.observe(
                service,
                kind=Kind.STATUS_REPORT,
                observed_at=stamp,
                status=status,
                attrs=attrs,
                id_parts=("route", route),
            )
        )


def _active(alert: Any, stamp: float) -> bool:
    """No active_period means always active; end 0 means open-ended."""
    if not alert.active_period:
        return True
    return any(
        (p.start == 0 or p.start <= stamp) and (p.end == 0 or stamp < p.end)
        for p in alert.active_period
    )


def _informed_routes(alert: Any) -> dict[str, bool]:
    """Route id → True when every mention of it is narrowed to stops or trips (partial)."""
    routes: dict[str, bool] = {}
    for informed in alert.informed_entity:
        route = informed.route_id or informed.trip.route_id
        if not route:
            continue
        partial = bool(informed.stop_id) or bool(informed.trip.trip_id)
        routes[route] = routes.get(route, True) and partial
    return routes
