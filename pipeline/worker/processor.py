"""What the worker does with one message or one silence tick, without any Kafka in sight.

The faust agent hands raw bytes and a state store in; it gets back the records to send.
That keeps every decision testable with plain dicts:

>>> from prometheus_client import CollectorRegistry
>>> from pipeline.metrics import WorkerMetrics
>>> from pipeline.status import SilencePolicy, StatusTracker
>>> tracker = StatusTracker(SilencePolicy())
>>> processor = ObservationProcessor(tracker, WorkerMetrics(CollectorRegistry()),
...                                  clock=lambda: 1_700_000_000.0)
>>> store: dict[str, dict] = {}
>>> out = processor.handle(b"not json", store, topic="t", partition=0, offset=1)
>>> out.deadletter[0][0], out.status
(None, [])
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog

from pipeline.deadletter import dead_letter_record
from pipeline.metrics import WorkerMetrics
from pipeline.sinks.influx import InfluxSink, status_point
from pipeline.status import ServiceState, StatusChange, StatusTracker
from pipeline.validation import (
    DEFAULT_LIMITS,
    ObservationRejected,
    ValidationLimits,
    parse_observation,
)

log = structlog.get_logger(__name__)

StateStore = MutableMapping[str, Any]


@dataclass(slots=True)
class Outputs:
    """Records to produce: (key, value) pairs per destination topic."""

    status: list[tuple[bytes, bytes]] = field(default_factory=list)
    deadletter: list[tuple[bytes | None, bytes]] = field(default_factory=list)


class ObservationProcessor:
    """Validation → status tracking → metrics and sinks, for one worker."""

    def __init__(
        self,
        tracker: StatusTracker,
        metrics: WorkerMetrics,
        *,
        clock: Callable[[], float] = time.time,
        sink: InfluxSink | None = None,
        limits: ValidationLimits = DEFAULT_LIMITS,
    ) -> None:
        self.tracker = tracker
        self.metrics = metrics
        self.clock = clock
        self.sink = sink
        self.limits = limits

    def handle(
        self,
        raw: bytes,
        store: StateStore,
        *,
        topic: str,
        partition: int,
        offset: int | None,
    ) -> Outputs:
        """Process one observation message; never raises for bad input."""
        out = Outputs()
        now = self.clock()
        try:
            obs = parse_observation(raw, now=now, limits=self.limits)
        except ObservationRejected as exc:
            self._reject(out, raw, exc.reason, exc.field, exc.detail, topic, partition, offset, now)
            return out
        try:
            stored = store.get(obs.service_id)
            previous = ServiceState.from_dict(stored) if stored is not None else None
            state, change, outcome = self.tracker.observe(previous, obs, partition=partition)
            if state is not previous:
                store[obs.service_id] = state.to_dict()
        except Exception as exc:
            log.exception("observation_processing_failed", service_id=obs.service_id)
            self._reject(
                out, raw, "processing_error", None, repr(exc), topic, partition, offset, now
            )
            return out
        self.metrics.observations.labels(obs.sector, obs.kind.value, outcome).inc()
        self.metrics.event_lag.observe(max(0.0, now - obs.observed_at))
        if change is not None:
            self._emit(out, state, change)
        elif outcome == "applied":
            self.metrics.service_last_evidence.labels(
                state.service_id, state.operator_id, state.sector, state.region
            ).set(state.last_evidence_at)
        return out

    def check_silence(self, store: StateStore, keys: Iterable[str]) -> Outputs:
        """Silence check for the given services (the caller picks those it owns)."""
        out = Outputs()
        now = self.clock()
        for key in keys:
            stored = store.get(key)
            if stored is None:
                continue
            state = ServiceState.from_dict(stored)
            deadline = self.tracker.silence_deadline(state)
            if deadline is None or now < deadline:
                continue
            new, change = self.tracker.check_silence(state, now=now)
            if change is not None:
                store[key] = new.to_dict()
                self._emit(out, new, change)
        return out

    def show(self, store: StateStore, key: str) -> None:
        """Export the stored status of one service to the metrics (e.g. after recovery)."""
        stored = store.get(key)
        if stored is not None:
            self.metrics.show_status(ServiceState.from_dict(stored))

    def _emit(self, out: Outputs, state: ServiceState, change: StatusChange) -> None:
        self.metrics.status_changes.labels(change.sector, change.current.value, change.reason).inc()
        self.metrics.show_status(state)
        out.status.append((change.service_id.encode(), orjson.dumps(change.to_dict())))
        if self.sink is not None:
            self.sink.add(status_point(change))
        log.info(
            "status_changed",
            service_id=change.service_id,
            previous=change.previous.value if change.previous else None,
            status=change.current.value,
            reason=change.reason,
        )

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
        self.metrics.rejected.labels(reason).inc()
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
