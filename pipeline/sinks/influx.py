"""InfluxDB history sink: batched, retried, bounded, never blocking the stream.

The contract follows quix-streams' sinks: ``add`` buffers a point and returns at once,
``flush`` writes the buffer in one request. A failed flush keeps the points for the next
try; when the buffer is full the oldest points are dropped and counted, because the same
facts stay durable in Kafka (the status and incidents topics) and can be replayed.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

import structlog
from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write.point import Point
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.domain.write_precision import WritePrecision

from pipeline.core.schema import STATUS_SEVERITY, Observation
from pipeline.incidents.model import IncidentEvent
from pipeline.indicators.rollup import IndicatorValue
from pipeline.metrics.worker import WorkerMetrics
from pipeline.monitoring.monitor import Anomaly
from pipeline.monitoring.status import ServiceState, StatusChange
from pipeline.sinks.influx_write import raise_refusal, write_isolating_refusals

log = structlog.get_logger(__name__)

SINK_NAME = "influxdb"

#: What the sink buffers: a ``Point``, or a line of line protocol already written
#: (:mod:`pipeline.sinks.line_protocol`); the client's write takes both, in order.
SinkRecord = Point | str


def line_of(record: SinkRecord) -> str:
    """A buffered record's line protocol.

    >>> line_of(Point("m").field("x", 1).time(5)), line_of("m x=1i 5")
    ('m x=1i 5', 'm x=1i 5')
    """
    return record if isinstance(record, str) else str(record.to_line_protocol())


def status_point(change: StatusChange) -> Point:
    """One ``service_status`` point per status change, at its event time.

    The history writer writes the same line with
    :func:`~pipeline.sinks.history_lines.status_line` (without a ``Point``); this is the
    reference its tests compare with."""
    point = (
        Point("service_status")
        .tag("service_id", change.service_id)
        .tag("operator_id", change.operator_id)
        .tag("sector", change.sector)
        .tag("region", change.region)
        .field("status", change.current.value)
        .field("severity", STATUS_SEVERITY[change.current])
        .field("previous", change.previous.value if change.previous else "")
        .field("reason", change.reason)
        .time(int(change.at * 1e9), WritePrecision.NS)
    )
    if change.customers_affected is not None:
        point = point.field("customers_affected", change.customers_affected)
    if change.customers_served is not None:
        point = point.field("customers_served", change.customers_served)
    return point


def incident_point(event: IncidentEvent) -> Point:
    """One ``incident`` point per lifecycle event, at the event's time.

    The history writer writes the same line with
    :func:`~pipeline.sinks.history_lines.incident_line`; this is its tests' reference."""
    incident = event.incident
    point = (
        Point("incident")
        .tag("service_id", incident.service_id)
        .tag("operator_id", incident.service.operator_id)
        .tag("sector", incident.service.sector)
        .tag("region", incident.service.region)
        .tag("event", event.kind)
        .tag("maintenance", "true" if incident.maintenance else "false")
        .field("incident_id", incident.incident_id)
        .field("severity", incident.severity)
        .field("started_at", incident.started_at)
        .field("detected_at", incident.detected_at)
        .field("time_to_detect_s", incident.detected_at - incident.started_at)
        .time(int(event.at * 1e9), WritePrecision.NS)
    )
    if incident.restored_at is not None:
        point = point.field("restored_at", incident.restored_at).field(
            "time_to_restore_s", incident.restored_at - incident.detected_at
        )
    if incident.acknowledged_at is not None:
        point = point.field("acknowledged_at", incident.acknowledged_at)
    if incident.customers_affected is not None:
        point = point.field("customers_affected", incident.customers_affected)
    if incident.users_affected is not None:
        point = point.field("users_affected", incident.users_affected)
    return point


def evidence_point(obs: Observation) -> Point | None:
    """One ``evidence`` point per probe result from a named vantage (None for evidence without
    a vantage): lets a verifier see which vantages saw a service fail, and when.

    The worker writes the same line with :class:`~pipeline.sinks.line_protocol.EvidenceLines`
    (without a ``Point``); this is the reference its tests compare with."""
    if obs.vantage is None:
        return None
    point = (
        Point("evidence")
        .tag("service_id", obs.service_id)
        .tag("operator_id", obs.operator_id)
        .tag("sector", obs.sector)
        .tag("region", obs.region)
        .tag("vantage", obs.vantage)
        .tag("kind", obs.kind.value)
        .time(int(obs.observed_at * 1e9), WritePrecision.NS)
    )
    if obs.status is not None:
        point = point.field("severity", STATUS_SEVERITY[obs.status])
    if obs.value is not None:
        point = point.field("value", float(obs.value))
    return point


def anomaly_point(state: ServiceState, anomaly: Anomaly) -> Point:
    """One ``kpi_anomaly`` point per KPI value that scored as anomalous, at its event time."""
    return (
        Point("kpi_anomaly")
        .tag("service_id", state.service_id)
        .tag("operator_id", state.operator_id)
        .tag("sector", state.sector)
        .tag("region", state.region)
        .tag("metric", anomaly.metric)
        .field("score", float(anomaly.score))
        .field("value", float(anomaly.value))
        .time(int(anomaly.at * 1e9), WritePrecision.NS)
    )


def indicator_point(row: IndicatorValue, at: float) -> Point:
    """One ``indicator`` point per defined indicator value (names as the standards use)."""
    return (
        Point("indicator")
        .tag("name", row.name)
        .tag("dimension", row.dimension)
        .tag("key", row.key)
        .tag("window", row.window)
        .field("value", float(row.value if row.value is not None else 0.0))
        .time(int(at * 1e9), WritePrecision.NS)
    )


class InfluxSink:
    """Buffers points and writes them in batches to ``bucket`` (``db/rp`` on InfluxDB 1.8)."""

    def __init__(
        self,
        client: InfluxDBClient,
        *,
        bucket: str,
        org: str,
        metrics: WorkerMetrics,
        max_buffer: int = 100_000,
        batch_size: int = 5_000,
        retries: int = 3,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._write = client.write_api(write_options=SYNCHRONOUS)
        self._bucket = bucket
        self._org = org
        self._metrics = metrics
        self._buffer: deque[SinkRecord] = deque()
        self._max_buffer = max_buffer
        self._batch_size = batch_size
        self._retries = retries
        self._backoff = backoff
        self._sleep = sleep
        self._lock = threading.Lock()
        self._flushing = threading.Lock()

    def add(self, point: SinkRecord) -> None:
        """Buffer one point; drops the oldest (counted) when the buffer is full."""
        with self._lock:
            if len(self._buffer) >= self._max_buffer:
                self._buffer.popleft()
                self._metrics.child(self._metrics.sink_points, SINK_NAME, "dropped").inc()
            self._buffer.append(point)
            self._metrics.child(self._metrics.sink_buffered, SINK_NAME).set(len(self._buffer))

    def add_many(self, points: list[SinkRecord]) -> None:
        """:meth:`add` for each of ``points`` in order, under one lock: the same buffer and
        the same counts of dropped points."""
        if not points:
            return
        with self._lock:
            buffer = self._buffer
            buffer.extend(points)
            excess = len(buffer) - self._max_buffer
            if excess > 0:
                for _ in range(excess):
                    buffer.popleft()
                self._metrics.child(self._metrics.sink_points, SINK_NAME, "dropped").inc(excess)
            self._metrics.child(self._metrics.sink_buffered, SINK_NAME).set(len(buffer))

    def __len__(self) -> int:
        return len(self._buffer)

    def flush(self) -> int:
        """Write everything buffered; returns points written. Safe to call from a thread."""
        written = 0
        with self._flushing:
            while True:
                with self._lock:
                    batch = [
                        self._buffer.popleft()
                        for _ in range(min(self._batch_size, len(self._buffer)))
                    ]
                if not batch:
                    break
                refused = self._write_with_retries(batch)
                if refused is None:
                    with self._lock:
                        # Put the batch back in front, keeping order, for the next flush.
                        self._buffer.extendleft(reversed(batch))
                        while len(self._buffer) > self._max_buffer:
                            self._buffer.popleft()
                            self._metrics.sink_points.labels(SINK_NAME, "dropped").inc()
                    break
                written += len(batch) - refused
                self._metrics.sink_points.labels(SINK_NAME, "written").inc(len(batch) - refused)
            self._metrics.sink_buffered.labels(SINK_NAME).set(len(self._buffer))
        return written

    def _write_with_retries(self, batch: list[SinkRecord]) -> int | None:
        """Points refused for good, or None when InfluxDB could not be reached."""
        for attempt in range(1, self._retries + 1):
            try:
                refused = write_isolating_refusals(self._write_checked, batch)
            except Exception as exc:
                self._metrics.sink_points.labels(SINK_NAME, "retried").inc(len(batch))
                log.warning(
                    "influx_write_failed", attempt=attempt, points=len(batch), error=str(exc)
                )
                if attempt < self._retries:
                    self._sleep(self._backoff * 2 ** (attempt - 1))
                continue
            # A refused point would be refused forever: count it and let the rest through.
            for point, reason in refused:
                log.error("influx_point_refused", point=line_of(point)[:300], reason=reason)
            self._metrics.sink_points.labels(SINK_NAME, "rejected").inc(len(refused))
            return len(refused)
        return None

    def _write_checked(self, batch: Sequence[SinkRecord]) -> None:
        try:
            self._write.write(bucket=self._bucket, org=self._org, record=list(batch))
        except Exception as exc:
            raise_refusal(exc)
            raise
