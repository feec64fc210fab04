"""Reading the worker's history back from InfluxDB with Flux (``service_status``,
``incident`` and ``indicator`` measurements, as written by :mod:`pipeline.sinks.influx`).

Each query is bounded by ``stop``: a public snapshot read with ``stop = now - delay`` cannot
contain anything newer, whatever the view code does with it afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from pipeline.incidents.model import EVENT_KINDS
from pipeline.publish.records import IncidentRecord, IndicatorRecord, ServiceState, Snapshot

_MOMENTS = ("started_at", "detected_at", "acknowledged_at", "restored_at")

#: How far back a service's last status change is looked for.
DEFAULT_LOOKBACK_S = 400 * 86_400.0


class QueryApi(Protocol):
    def query(self, query: str) -> Iterable[Any]: ...


def flux_time(ts: float) -> str:
    """An RFC 3339 literal Flux accepts in ``range``.

    >>> flux_time(0.5)
    '1970-01-01T00:00:00.500000Z'
    """
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _stop(ts: float) -> str:
    """``range`` stops are exclusive: one microsecond on, so "at or before ``ts``" holds."""
    return flux_time(ts + 1e-6)


def _string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class FluxReader:
    """Reads snapshots and history from ``bucket`` through an influxdb-client query API."""

    def __init__(self, query_api: QueryApi, bucket: str) -> None:
        self._query = query_api
        self._bucket = bucket

    def _rows(self, flux: str) -> list[dict[str, Any]]:
        return [dict(r.values) for table in self._query.query(flux) for r in table.records]

    def services(self, stop: float, lookback_s: float = DEFAULT_LOOKBACK_S) -> list[ServiceState]:
        """Each service's latest status change at or before ``stop``, and when it was first
        seen (its first change within the lookback)."""
        flux = f"""
from(bucket: {_string(self._bucket)})
  |> range(start: {flux_time(stop - lookback_s)}, stop: {_stop(stop)})
  |> filter(fn: (r) => r._measurement == "service_status")
  |> filter(fn: (r) => r._field == "status" or r._field == "reason"
       or r._field == "customers_served" or r._field == "customers_affected")
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> sort(columns: ["_time"], desc: true)
  |> limit(n: 1)
"""
        # Not last(column: "status"): after pivot, Flux on InfluxDB 1.8 returns the last row's
        # time with an older row's value in columns that are null in the last row.
        first_flux = f"""
from(bucket: {_string(self._bucket)})
  |> range(start: {flux_time(stop - lookback_s)}, stop: {_stop(stop)})
  |> filter(fn: (r) => r._measurement == "service_status" and r._field == "status")
  |> first()
"""
        first_seen: dict[str, float] = {}
        for row in self._rows(first_flux):
            sid, at = str(row["service_id"]), _seconds(row["_time"])
            first_seen[sid] = min(at, first_seen.get(sid, at))
        latest: dict[str, ServiceState] = {}
        for row in self._rows(flux):
            state = ServiceState(
                service_id=str(row["service_id"]),
                operator_id=str(row.get("operator_id", "")),
                sector=str(row.get("sector", "")),
                region=str(row.get("region", "")),
                status=str(row["status"]),
                since=_seconds(row["_time"]),
                reason=str(row.get("reason") or ""),
                customers_served=_int(row.get("customers_served")),
                customers_affected=_int(row.get("customers_affected")),
                first_seen=first_seen.get(str(row["service_id"])),
            )
            known = latest.get(state.service_id)
            if known is None or state.since >= known.since:
                latest[state.service_id] = state
        return sorted(latest.values(), key=lambda s: s.service_id)

    def incidents(self, start: float, stop: float) -> list[IncidentRecord]:
        """Incidents as their latest event at or before ``stop`` left them, for every
        incident with an event in [start, stop]."""
        flux = f"""
from(bucket: {_string(self._bucket)})
  |> range(start: {flux_time(start)}, stop: {_stop(stop)})
  |> filter(fn: (r) => r._measurement == "incident")
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
"""
        order = {kind: n for n, kind in enumerate(EVENT_KINDS)}
        latest: dict[str, tuple[float, int, Mapping[str, Any]]] = {}
        for row in self._rows(flux):
            # Events carry event times, but detected_at is the worker's clock: on replayed
            # history a detection is written after its own restoration. The latest moment a
            # row knows of, then the lifecycle order, puts them back in sequence.
            moment = max(
                _seconds(row["_time"]),
                *(float(row[f]) for f in _MOMENTS if row.get(f) is not None),
            )
            key = (moment, order.get(str(row.get("event")), -1), row)
            known = latest.get(str(row["incident_id"]))
            if known is None or key[:2] >= known[:2]:
                latest[str(row["incident_id"])] = key
        records = [_incident(row) for _, _, row in latest.values()]
        return sorted(records, key=lambda i: (i.started_at, i.incident_id))

    def indicators(self, start: float, stop: float) -> list[IndicatorRecord]:
        """The latest value of every indicator row written in [start, stop]."""
        flux = f"""
from(bucket: {_string(self._bucket)})
  |> range(start: {flux_time(start)}, stop: {_stop(stop)})
  |> filter(fn: (r) => r._measurement == "indicator" and r._field == "value")
  |> last()
"""
        return sorted(
            (
                IndicatorRecord(
                    str(row["name"]),
                    str(row["dimension"]),
                    str(row["key"]),
                    str(row["window"]),
                    float(row["_value"]),
                    _seconds(row["_time"]),
                )
                for row in self._rows(flux)
            ),
            key=lambda r: (r.dimension, r.key, r.name, r.window),
        )

    def snapshot(
        self, as_of: float, *, history_s: float = 90 * 86_400.0, with_indicators: bool = False
    ) -> Snapshot:
        """Services, incidents of the last ``history_s`` (and indicators) as of ``as_of``."""
        services = self.services(as_of)
        # Incidents still open at the window's start had their last event before it.
        incidents = self.incidents(as_of - history_s - 30 * 86_400.0, as_of)
        indicators = self.indicators(as_of - history_s, as_of) if with_indicators else []
        return Snapshot(as_of, tuple(services), tuple(incidents), tuple(indicators))


def _incident(row: Mapping[str, Any]) -> IncidentRecord:
    return IncidentRecord(
        incident_id=str(row["incident_id"]),
        service_id=str(row["service_id"]),
        operator_id=str(row.get("operator_id", "")),
        sector=str(row.get("sector", "")),
        region=str(row.get("region", "")),
        started_at=float(row["started_at"]),
        detected_at=float(row["detected_at"]),
        acknowledged_at=_float(row.get("acknowledged_at")),
        restored_at=_float(row.get("restored_at")),
        severity=str(row.get("severity") or "down"),
        customers_affected=_int(row.get("customers_affected")),
        users_affected=_int(row.get("users_affected")),
        maintenance=str(row.get("maintenance")) == "true",
        last_event=str(row.get("event") or ""),
    )


def _seconds(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)
