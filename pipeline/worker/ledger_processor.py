"""The ledger's side of the worker: correlation across services and the indicator roll-ups.

Runs on whichever worker owns the one ledger partition (see :mod:`pipeline.worker.ledger_records`).

>>> from prometheus_client import CollectorRegistry
>>> from pipeline.metrics.indicators import IndicatorGauges
>>> from pipeline.metrics.worker import WorkerMetrics
>>> registry = CollectorRegistry()
>>> ledger = LedgerProcessor(WorkerMetrics(registry), IndicatorGauges(registry), clock=lambda: 0.0)
>>> services, incidents, state = {}, {}, {}
>>> ledger.handle({"type": "service", "service": {"service_id": "s", "operator_id": "o",
...     "sector": "energy", "region": "UA", "customers_served": 5}}, services, incidents, state)
Outputs(status=[], incidents=[], anomalies=[], indicators=[], ledger=[], deadletter=[])
>>> sorted(services)
['s']
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

import orjson
import structlog

from pipeline.detection.correlation import DisruptionCorrelator
from pipeline.incidents.maintenance import MaintenanceCalendar
from pipeline.incidents.model import Incident
from pipeline.indicators.med import major_event_rows
from pipeline.indicators.rollup import (
    DEFAULT_WINDOWS,
    IndicatorValue,
    notable_services,
    rollup,
)
from pipeline.metrics.indicators import IndicatorGauges
from pipeline.metrics.worker import WorkerMetrics
from pipeline.sinks.influx import InfluxSink, indicator_point
from pipeline.worker.ledger_records import correlate, retained
from pipeline.worker.processor import Outputs
from pipeline.worker.table_values import compact_ref, service_ref

log = structlog.get_logger(__name__)

StateStore = MutableMapping[str, Any]

CORRELATOR_KEY = "correlator"


class LedgerProcessor:
    """Keeps the service inventory and incident history; correlates; computes indicators."""

    def __init__(
        self,
        metrics: WorkerMetrics,
        gauges: IndicatorGauges,
        *,
        clock: Callable[[], float] = time.time,
        sink: InfluxSink | None = None,
        calendar: MaintenanceCalendar | None = None,
        windows: Mapping[str, float] = DEFAULT_WINDOWS,
        correlation_window_s: float = 900.0,
    ) -> None:
        self.metrics = metrics
        self.gauges = gauges
        self.clock = clock
        self.sink = sink
        self.calendar = calendar or MaintenanceCalendar()
        self.windows = dict(windows)
        self.correlation_window_s = correlation_window_s
        # Services given per-service indicator rows at the last roll-up.
        self._with_service_rows: set[str] = set()
        # The correlator decoded from the state table, and the value it was decoded from or
        # last written as: decoding and encoding it per incident record cost ≈ 1 ms each
        # with a full window (docs/benchmarks.md, "Round 6"); it is written once per unit.
        self._correlator: DisruptionCorrelator | None = None
        self._correlator_value: Any = None
        self._correlator_changed = False

    def handle(
        self,
        record: dict[str, Any],
        services: StateStore,
        incidents: StateStore,
        state: StateStore,
    ) -> Outputs:
        """Apply one ledger record; returns concurrent-disruption findings as anomalies."""
        out = Outputs()
        if record.get("type") == "service":
            # Kept as a ServiceRef (pipeline.worker.table_values): its changelog record is
            # the same JSON as its to_dict(), in a fraction of the memory.
            ref = service_ref(record["service"])
            services[ref.service_id] = ref
            return out
        if record.get("type") != "incident":
            log.warning("ledger_record_unknown", record_type=record.get("type"))
            return out
        incident = Incident.from_dict(record["incident"])
        incidents[incident.incident_id] = incident.to_dict()
        services.setdefault(incident.service_id, compact_ref(incident.service))
        correlator = self._live_correlator(state)
        findings = correlate(correlator, str(record.get("event", "")), incident)
        self._correlator_changed = True
        for finding in findings:
            self.metrics.concurrent_disruptions.labels(finding.region).inc()
            body = {"type": "concurrent_disruption", **finding.to_dict()}
            out.anomalies.append((finding.region.encode(), orjson.dumps(body)))
            log.info(
                "concurrent_disruption",
                finding_id=finding.finding_id,
                region=finding.region,
                incidents=list(finding.incident_ids),
            )
        return out

    def _live_correlator(self, state: StateStore) -> DisruptionCorrelator:
        stored = state.get(CORRELATOR_KEY)
        if self._correlator is None or stored is not self._correlator_value:
            # First use, or the table was recovered afresh (a rebalance): decode what it holds.
            self._correlator = (
                DisruptionCorrelator.from_dict(stored)
                if stored
                else DisruptionCorrelator(self.correlation_window_s)
            )
            self._correlator_value = stored
            self._correlator_changed = False
        return self._correlator

    def flush(self, state: StateStore) -> None:
        """Write the correlator to ``state`` if records changed it since the last flush; call
        once per unit, before its changelog records are taken.

        >>> from prometheus_client import CollectorRegistry
        >>> from pipeline.metrics.indicators import IndicatorGauges
        >>> registry = CollectorRegistry()
        >>> ledger = LedgerProcessor(WorkerMetrics(registry), IndicatorGauges(registry))
        >>> state = {}
        >>> ledger.flush(state); state
        {}
        >>> ledger._live_correlator(state) is ledger._live_correlator(state)
        True
        """
        if self._correlator is None or not self._correlator_changed:
            return
        value = self._correlator.to_dict()
        state[CORRELATOR_KEY] = value
        # What the table hands back for the key from now on (a BatchedChangelog or a
        # faust table keeps the object it was given).
        self._correlator_value = state.get(CORRELATOR_KEY)
        self._correlator_changed = False

    def indicators(self, services: StateStore, incidents: StateStore) -> Outputs:
        """Roll every indicator up now; exports gauges, InfluxDB points, indicator records."""
        return self.apply_rollup(
            self.compute_rollup(list(services.values()), list(incidents.values())), incidents
        )

    def compute_rollup(self, service_values: list[Any], incident_values: list[Any]) -> RollUp:
        """The roll-up of a snapshot of the ledger tables' values, changing nothing: safe to
        run in a thread while the tables stay untouched (the worker holds the ledger task)."""
        now = self.clock()
        history = [Incident.from_dict(value) for value in incident_values]
        keep = retained(history, now=now, retention_s=max(self.windows.values()))
        dropped = {i.incident_id for i in history} - {i.incident_id for i in keep}
        refs = [service_ref(value) for value in service_values]
        # Per-service rows only where they can differ from a quiet service's (absent series:
        # no incident in any window, availability 1); a service that turned quiet gets one
        # last row for the history, and its gauges are removed.
        notable = notable_services(keep, self.calendar)
        fading = self._with_service_rows - notable
        rows = rollup(keep, refs, now, self.windows, self.calendar, service_rows=notable | fading)
        rows += major_event_rows(keep, refs, now, self.windows)
        return RollUp(now, rows, dropped, notable, fading)

    def apply_rollup(self, done: RollUp, incidents: StateStore) -> Outputs:
        """Prune the incidents table, export the gauges and points, and give the records."""
        out = Outputs()
        for old in done.dropped:
            del incidents[old]
        fading = done.fading
        self.gauges.update(r for r in done.rows if r.dimension != "service" or r.key not in fading)
        for service_id in fading:
            self.gauges.remove("service", service_id)
        self._with_service_rows = done.notable
        for row in done.rows:
            if row.value is None:
                continue
            if self.sink is not None:
                self.sink.add(indicator_point(row, done.at))
            key = f"{row.dimension}:{row.key}".encode()
            out.indicators.append((key, orjson.dumps({**row.to_dict(), "at": done.at})))
        return out


@dataclass(frozen=True, slots=True)
class RollUp:
    """What :meth:`LedgerProcessor.compute_rollup` found, for its ``apply_rollup``."""

    at: float
    rows: list[IndicatorValue]
    dropped: set[str]
    notable: set[str]
    fading: set[str]
