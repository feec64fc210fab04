"""What the worker does with a batch of messages or one clock tick, without Kafka in sight.

The faust agent hands raw bytes and the live states (:class:`LiveStates`, over the table)
in; it gets back the records to send, and flushes the changed states once per batch. That
keeps every decision testable with plain dicts:

>>> from prometheus_client import CollectorRegistry
>>> from pipeline.metrics.worker import WorkerMetrics
>>> from pipeline.monitoring.monitor import MonitorParams, Monitoring
>>> monitoring = Monitoring(MonitorParams())
>>> processor = ObservationProcessor(monitoring, WorkerMetrics(CollectorRegistry()),
...                                  clock=lambda: 1_700_000_000.0)
>>> live = LiveStates({}, monitoring)
>>> out = processor.handle(b"not json", live, topic="t", partition=0, offset=1)
>>> out.deadletter[0][0], out.status
(None, [])
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field

import orjson
import structlog

from pipeline.core.commands import CommandRejected, parse_command
from pipeline.core.deadletter import dead_letter_record
from pipeline.core.validation import (
    DEFAULT_LIMITS,
    ObservationRejected,
    ValidationLimits,
    parse_observation,
)
from pipeline.metrics.worker import ObservationTally, WorkerMetrics
from pipeline.monitoring.monitor import Monitoring, MonitorResult, ServiceMonitor
from pipeline.monitoring.status import Outcome, ServiceState
from pipeline.sinks.influx import (
    InfluxSink,
    SinkRecord,
    anomaly_point,
    incident_point,
    status_point,
)
from pipeline.sinks.line_protocol import EvidenceLines
from pipeline.worker.incident_log import IncidentLog
from pipeline.worker.ledger_records import ledger_incident_record, ledger_service_record
from pipeline.worker.live_states import LiveStates

log = structlog.get_logger(__name__)

Record = tuple[bytes | None, bytes]
#: One message for :meth:`ObservationProcessor.handle_batch`: (value, topic, partition, offset).
BatchRecord = tuple[bytes | None, str, int, int | None]


def _applied(monitor: ServiceMonitor, partition: int, offset: int | None) -> bool:
    """Whether the record at ``offset`` of ``partition`` is already in ``monitor``."""
    through = monitor.applied_through
    return (
        through is not None
        and offset is not None
        and offset <= through
        and monitor.state.partition == partition
    )


def _identity(state: ServiceState) -> tuple[str, str, str, str, int | None]:
    """The fields of the service's :class:`~pipeline.core.identity.ServiceRef`, compared
    without building one per observation."""
    return (state.service_id, state.operator_id, state.sector, state.region,
            state.customers_served)  # fmt: skip


@dataclass(slots=True)
class Outputs:
    """Records to produce: (key, value) pairs per destination topic."""

    status: list[Record] = field(default_factory=list)
    incidents: list[Record] = field(default_factory=list)
    anomalies: list[Record] = field(default_factory=list)
    indicators: list[Record] = field(default_factory=list)
    ledger: list[Record] = field(default_factory=list)
    deadletter: list[Record] = field(default_factory=list)


class ObservationProcessor:
    """Validation → monitoring (status, detectors, incidents) → metrics and sinks."""

    def __init__(
        self,
        monitoring: Monitoring,
        metrics: WorkerMetrics,
        *,
        clock: Callable[[], float] = time.time,
        sink: InfluxSink | None = None,
        limits: ValidationLimits = DEFAULT_LIMITS,
        command_key: bytes | None = None,
        status_points: bool = True,
        defer_writes: bool = False,
    ) -> None:
        """``status_points=False``: status and incident points are written from their topics
        (:class:`~pipeline.sinks.history.TopicHistory`), so ``sink`` only takes the evidence
        and anomaly points that exist on no output topic.

        ``defer_writes``: a service's state changed by an observation with an offset and
        without any output is deferred (:meth:`LiveStates.defer`) instead of written by the
        next :meth:`flush`; the caller writes it later and holds its offset back meanwhile
        (pipeline.worker.deferred_writes)."""
        self.monitoring = monitoring
        self.metrics = metrics
        self.clock = clock
        self.sink = sink
        self.limits = limits
        self.command_key = command_key
        self.status_points = status_points
        self.defer_writes = defer_writes
        self._evidence = EvidenceLines()
        # the incident events of the batch being processed, logged at its end
        self._incident_log = IncidentLog()

    def handle(
        self,
        raw: bytes | None,
        live: LiveStates,
        *,
        topic: str,
        partition: int,
        offset: int | None,
        out: Outputs | None = None,
    ) -> Outputs:
        """Process one observation message into ``out``; never raises for bad input.
        The changed state is written by the next :meth:`flush`."""
        return self._handle_all(((raw, topic, partition, offset),), live, out, isolate=False)

    def handle_batch(
        self, records: Iterable[BatchRecord], live: LiveStates, *, out: Outputs | None = None
    ) -> Outputs:
        """Process ``(raw, topic, partition, offset)`` messages in order into ``out``, as
        :meth:`handle` one by one would; never raises: a record whose processing raises is
        dead-lettered by :meth:`fail` and the batch goes on.

        The changed states are written by the next :meth:`flush`. The per-observation
        metrics (observations by outcome, event lag) and the sink's points are added once
        for the batch: prometheus-client takes a lock per increment and walks the
        histogram's buckets in Python (docs/benchmarks.md, round 5).
        """
        return self._handle_all(records, live, out, isolate=True)

    def _handle_all(
        self, records: Iterable[BatchRecord], live: LiveStates, out: Outputs | None, isolate: bool
    ) -> Outputs:
        out = Outputs() if out is None else out
        tally = ObservationTally()
        points: list[SinkRecord] = []
        try:
            for raw, topic, partition, offset in records:
                try:
                    self._observe(raw, live, topic, partition, offset, out, tally, points)
                except Exception as exc:  # one record must never stop its batch
                    if not isolate:
                        raise  # handle: its caller isolates
                    self.fail(raw, exc, topic=topic, partition=partition, offset=offset, out=out)
        finally:
            self.metrics.add_observations(tally)
            self._finish(points)
        return out

    def _observe(
        self,
        raw: bytes | None,
        live: LiveStates,
        topic: str,
        partition: int,
        offset: int | None,
        out: Outputs,
        tally: ObservationTally,
        points: list[SinkRecord],
    ) -> None:
        now = self.clock()
        if raw is None:  # a tombstone or a producer bug: nothing to validate
            self._reject(
                out,
                b"",
                "null_value",
                None,
                "the record has no value",
                topic,
                partition,
                offset,
                now,
            )
            return
        try:
            obs = parse_observation(raw, now=now, limits=self.limits)
        except ObservationRejected as exc:
            self._reject(out, raw, exc.reason, exc.field, exc.detail, topic, partition, offset, now)
            return
        key = obs.service_id
        try:
            monitor = live.get(key)
            if monitor is not None and _applied(monitor, partition, offset):
                # Read again after a restart or rebalance (the committed offset waited for a
                # deferred write): this state already holds its effect and its outputs.
                tally.add(obs.sector, obs.kind, Outcome.REPLAYED, now - obs.observed_at)
                return
            known = _identity(monitor.state) if monitor else None
            monitor, result = self.monitoring.observe(monitor, obs, partition=partition, now=now)
            outcome = result.outcome
            emits = bool(result.status_changes or result.incident_events or result.anomalies)
            new_identity = known is None or _identity(monitor.state) != known
            if outcome != Outcome.DUPLICATE and outcome != Outcome.LATE:
                if offset is not None:
                    monitor.applied_through = offset
                if self.defer_writes and offset is not None and not (emits or new_identity):
                    # Nothing anyone sees changed: the state may wait (and its offset with it).
                    live.defer(key, monitor, partition=partition, offset=offset, at=now)
                    self.metrics.services.update_state(monitor.state)
                else:
                    live.put(key, monitor)
            elif emits:
                # A late observation's evidence-gap event changed the incident in place: its
                # state goes with the event.
                live.put(key, monitor)
        except Exception as exc:
            # The live copy may be half-updated: fall back to the stored one.
            live.discard(key)
            log.exception("observation_processing_failed", service_id=key)
            self._reject(
                out, raw, "processing_error", None, repr(exc), topic, partition, offset, now
            )
            return
        # obs.kind is a StrEnum: the same label as its value, without the enum lookup
        tally.add(obs.sector, obs.kind, outcome, now - obs.observed_at)
        if new_identity:
            out.ledger.append((b"ledger", orjson.dumps(ledger_service_record(monitor.ref))))
        if emits:
            self._emit(out, monitor, result, points)
        if obs.vantage is not None and outcome == Outcome.APPLIED and self.sink is not None:
            # probes only: evidence by vantage for drill-downs; written as line protocol
            # directly, without an influxdb-client Point (docs/benchmarks.md, round 6)
            evidence = self._evidence.line(obs)
            if evidence is not None:
                points.append(evidence)

    def flush(self, live: LiveStates) -> int:
        """Write the changed states (one table write each) and export their status."""
        written = live.flush()
        for _key, monitor in written:
            self.metrics.services.update_state(monitor.state)
        return len(written)

    def check(
        self, live: LiveStates, owned: Collection[int], *, now: float | None = None
    ) -> Outputs:
        """Clock-driven checks (silence, maintenance) for the due services of the owned
        partitions, as of ``now`` (the clock's time if None); flushes what changed."""
        out = Outputs()
        points: list[SinkRecord] = []
        now = self.clock() if now is None else now
        for key in live.due(now, owned):
            try:
                monitor = live.get(key)
                if monitor is None:
                    continue
                result = self.monitoring.check(monitor, now=now)
            except Exception:
                live.discard(key)
                self.metrics.check_errors.inc()
                log.exception("service_check_failed", service_id=key)
                continue
            if result.status_changes or result.incident_events:
                live.put(key, monitor)
                self._emit(out, monitor, result, points)
            else:
                live.reschedule(key, monitor)
        membership = live.take_membership_changes()
        # After a restart or rebalance the table is recovered but nothing is exported yet.
        for _key, stored in membership.recovered:
            self.metrics.services.update_stored(stored)
        for key in membership.dropped:
            self.metrics.services.drop(key)
        for key in membership.unreadable:
            self.metrics.check_errors.inc()
            log.error("service_state_unreadable", service_id=key)
        self.metrics.services_tracked.set(live.tracked)
        self.flush(live)
        self._finish(points)
        return out

    def command(
        self,
        raw: bytes | None,
        live: LiveStates,
        *,
        topic: str,
        partition: int,
        offset: int | None,
        out: Outputs | None = None,
    ) -> Outputs:
        """Apply one command message; an invalid one is dead-lettered, never raised."""
        out = Outputs() if out is None else out
        now = self.clock()
        try:
            command = parse_command(raw, now=now, key=self.command_key)
        except CommandRejected as exc:
            log.warning("command_rejected", reason=exc.reason, field=exc.field)
            self._reject(
                out, raw or b"", exc.reason, exc.field, exc.detail, topic, partition, offset, now
            )
            return out
        monitor = live.get(command.service_id)
        if monitor is None:
            log.warning("acknowledge_unknown_service", service_id=command.service_id)
            return out
        events = self.monitoring.acknowledge(
            monitor, at=command.at, method=command.method, by=command.by
        )
        if events:
            live.put(command.service_id, monitor)
            points: list[SinkRecord] = []
            self._emit(out, monitor, MonitorResult(incident_events=events), points)
            self._finish(points)
        return out

    def fail(
        self,
        raw: bytes | None,
        error: BaseException,
        *,
        topic: str,
        partition: int,
        offset: int | None,
        out: Outputs,
    ) -> None:
        """Dead-letter a record whose processing raised, so the partition moves on."""
        log.error(
            "record_processing_failed",
            topic=topic,
            partition=partition,
            offset=offset,
            error=repr(error),
        )
        self._reject(
            out,
            raw or b"",
            "processing_error",
            None,
            repr(error)[:500],
            topic,
            partition,
            offset,
            self.clock(),
        )

    def _finish(self, points: list[SinkRecord]) -> None:
        """The end of a batch, a check or a command: its sink points go to the sink at once
        and its incident events to the log."""
        if points and self.sink is not None:
            self.sink.add_many(points)
        self._incident_log.emit(log)

    def _emit(
        self, out: Outputs, monitor: ServiceMonitor, result: MonitorResult, points: list[SinkRecord]
    ) -> None:
        """Records, metrics and logs for what ``result`` changed; its sink points go to
        ``points`` (in order, for the caller to add at once)."""
        if not (result.status_changes or result.incident_events or result.anomalies):
            return  # most observations change nothing worth a record
        key = monitor.state.service_id.encode()
        for change in result.status_changes:
            self.metrics.child(
                self.metrics.status_changes, change.sector, change.current.value, change.reason
            ).inc()
            out.status.append((key, orjson.dumps(change.to_dict())))
            if self.sink is not None and self.status_points:
                points.append(status_point(change))
            # Debug only: a rendered line costs ≈ 18 µs, and every status change is already
            # a record on the status topic, a metric and (from that topic) an InfluxDB point;
            # what an operator acts on, the incident event, stays at info (docs/benchmarks.md,
            # round 6).
            log.debug(
                "status_changed",
                service_id=change.service_id,
                previous=change.previous.value if change.previous else None,
                status=change.current.value,
                reason=change.reason,
            )
        for event in result.incident_events:
            incident = event.incident
            self.metrics.child(
                self.metrics.incident_events, incident.service.sector, event.kind
            ).inc()
            out.incidents.append((key, orjson.dumps(event.to_dict())))
            out.ledger.append((b"ledger", orjson.dumps(ledger_incident_record(event))))
            if self.sink is not None and self.status_points:
                points.append(incident_point(event))
            self._incident_log.add(event)
        for anomaly in result.anomalies:
            self.metrics.child(
                self.metrics.kpi_anomalies, monitor.state.sector, anomaly.metric
            ).inc()
            # The service's dimensions let notice subscribers match anomalies to their scope.
            record = {**anomaly.to_dict(), "service": monitor.ref.to_dict()}
            out.anomalies.append((key, orjson.dumps(record)))
            if self.sink is not None:
                points.append(anomaly_point(monitor.state, anomaly))

    def _reject(
        self,
        out: Outputs,
        raw: bytes,
        reason: str,
        field_name: str | None,
        detail: str,
        topic: str,
        partition: int,
        offset: int | None,
        now: float,
    ) -> None:
        self.metrics.child(self.metrics.rejected, reason).inc()
        out.deadletter.append(
            (
                None,
                dead_letter_record(
                    raw,
                    reason=reason,
                    field=field_name,
                    detail=detail,
                    topic=topic,
                    partition=partition,
                    offset=offset,
                    at=now,
                ),
            )
        )
