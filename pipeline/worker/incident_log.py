"""The incident events of a processed batch, logged together at its end.

A rendered JSON log line costs ≈ 18 µs of the worker's CPU; on a flapping service mix one
observation in ten emits an incident event, so one line per event was a few per cent of
the processor (docs/benchmarks.md, "Round 6: the processor"). The events of a batch go out
at info in ``incident_events`` lines of up to :data:`INCIDENT_LOG_CHUNK` events, each with
what an operator looks an incident up by: its kind, incident id, service and times.

>>> from structlog.testing import CapturingLogger
>>> from pipeline.incidents.model import Incident, IncidentEvent, ServiceRef
>>> incident = Incident("svc/60", ServiceRef("svc", "op", "energy", "UA-30"), 60.0, 120.0)
>>> batch = IncidentLog()
>>> for _ in range(25):
...     batch.add(IncidentEvent("detected", 120.0, incident))
>>> logger = CapturingLogger()
>>> batch.emit(logger)
>>> [(call.method_name, call.kwargs["count"]) for call in logger.calls]
[('info', 20), ('info', 5)]
>>> logger.calls[0].args, logger.calls[0].kwargs["events"][0]["incident_id"]
(('incident_events',), 'svc/60')
>>> batch.emit(logger); len(logger.calls)  # emitted events are not logged again
2
"""

from __future__ import annotations

from typing import Any

from pipeline.incidents.model import IncidentEvent

#: Incident events per ``incident_events`` log line (a line stays a few kilobytes).
INCIDENT_LOG_CHUNK = 20


class IncidentLog:
    """Incident events waiting for the end of their batch."""

    __slots__ = ("_events",)

    def __init__(self) -> None:
        self._events: list[dict[str, Any]] = []

    def add(self, event: IncidentEvent) -> None:
        incident = event.incident
        self._events.append(
            {
                "kind": event.kind,
                "incident_id": incident.incident_id,
                "service_id": incident.service_id,
                "started_at": incident.started_at,
                "detected_at": incident.detected_at,
                "restored_at": incident.restored_at,
            }
        )

    def emit(self, log: Any) -> None:
        """Log the waiting events with ``log`` (a structlog logger) and forget them."""
        events = self._events
        if not events:
            return
        self._events = []
        for first in range(0, len(events), INCIDENT_LOG_CHUNK):
            chunk = events[first : first + INCIDENT_LOG_CHUNK]
            log.info("incident_events", count=len(chunk), events=chunk)
