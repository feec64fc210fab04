"""Incident lifecycle: detected -> (acknowledged) -> restored, one incident per outage.

:class:`ServiceIncidents` is the whole per-service state (a plain dict via :meth:`to_dict`, so
it fits a changelogged table keyed by ``service_id``); :class:`IncidentTracker` is a
convenience holding one per service. Every transition returns :class:`IncidentEvent` objects
for the caller to emit; nothing here does I/O or reads a clock.

Rules, and why:

* An incident opens when any detector asserts an outage (``DOWN``/``DEGRADED`` verdict) and is
  restored when every detector that asserted it has cleared; several detectors (consensus,
  silence, level drop) about one outage therefore make one incident.
* ``started_at`` is the earliest first-failing evidence among the asserting detectors, but
  never earlier than the previous restoration.
* Flapping and out-of-order evidence: a failing verdict whose first evidence precedes the last
  restoration, or follows it within ``reopen_grace_s``, reopens that incident (event
  ``reopened``) instead of opening a duplicate; the gap counts as down, so no minute is lost
  and none is counted twice.
* Maintenance: an outage starting inside a declared window for the service is recorded as a
  ``maintenance`` incident (reported separately, never paged). If it is still down when the
  window ends, :meth:`ServiceIncidents.tick` closes the record and opens a real incident that
  starts at the window end.

>>> from pipeline.detection.verdict import Verdict
>>> from pipeline.core.schema import Status
>>> tr = IncidentTracker()
>>> ref = ServiceRef("svc", "op", "telecom", "UA-30")
>>> [e.kind for e in tr.on_verdict(Verdict("svc", "consensus", Status.DOWN, 130.0, 65.0), ref)]
['detected']
>>> [e.kind for e in tr.on_verdict(Verdict("svc", "silence", Status.DOWN, 150.0, 90.0), ref)]
['updated']
>>> tr.on_verdict(Verdict("svc", "consensus", Status.UP, 400.0, 300.0), ref)
[]
>>> [e.kind for e in tr.on_verdict(Verdict("svc", "silence", Status.UP, 310.0, 310.0), ref)]
['restored']
>>> inc = tr.incidents()[0]
>>> inc.started_at, inc.detected_at, inc.restored_at
(65.0, 130.0, 310.0)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pipeline.core.flat import flat_dict
from pipeline.core.schema import Observation, Status
from pipeline.detection.verdict import Verdict
from pipeline.incidents.maintenance import MaintenanceCalendar, MaintenanceWindow
from pipeline.incidents.model import Incident, IncidentEvent, ServiceRef

_SEVERITY = {"degraded": 1, "down": 2}


@dataclass(frozen=True, slots=True)
class TrackerParams:
    """reopen_grace_s: restorations followed by a new outage this soon are one incident.
    retention_s: how long closed incidents stay in the state (30 d indicators need 30 d).
    max_closed: cap on closed incidents kept per service (bounded memory).
    max_evidence: cap on evidence ids kept per incident.
    """

    reopen_grace_s: float = 300.0
    retention_s: float = 31 * 86_400.0
    max_closed: int = 256
    max_evidence: int = 64


class ServiceIncidents:
    """All incident state of one service."""

    def __init__(self, service_id: str) -> None:
        self.service_id = service_id
        self.open: Incident | None = None
        self.maintenance_open: Incident | None = None
        self.asserting: dict[str, float] = {}  # detector -> its first failing evidence
        self.closed: list[Incident] = []  # newest last, includes maintenance records

    # -- transitions -------------------------------------------------------------------
    def apply(
        self,
        verdict: Verdict,
        ref: ServiceRef,
        calendar: MaintenanceCalendar | None = None,
        params: TrackerParams | None = None,
        now: float | None = None,
    ) -> list[IncidentEvent]:
        """Feed one detector verdict; ``now`` (processing time) defaults to ``verdict.at``."""
        p = params or TrackerParams()
        if verdict.state is Status.UNKNOWN:
            return []
        if verdict.failing:
            return self._failing(verdict, ref, calendar, p, verdict.at if now is None else now)
        return self._clearing(verdict, p)

    def _failing(
        self,
        v: Verdict,
        ref: ServiceRef,
        calendar: MaintenanceCalendar | None,
        p: TrackerParams,
        now: float,
    ) -> list[IncidentEvent]:
        last = self._last_real_closed()
        # a failure starting before the last restoration (late or out-of-order evidence)
        # or soon after it (flapping) continues that incident: never a second one
        if (
            self.open is None
            and last is not None
            and last.restored_at is not None
            and v.started_at - last.restored_at <= p.reopen_grace_s
        ):
            self.closed.remove(last)
            self.open, last.restored_at = last, None
            last.reopened += 1
            for key in ("evidence_gap", "classification", "alive_at"):
                last.attrs.pop(key, None)  # the silence came back: an outage after all
            self.asserting[v.detector] = v.started_at
            self._merge_evidence(last, v, p)
            return [IncidentEvent("reopened", v.at, last.snapshot())]
        self.asserting[v.detector] = min(v.started_at, self.asserting.get(v.detector, v.started_at))
        floor = last.restored_at if last is not None and last.restored_at is not None else None
        started = v.started_at if floor is None else max(v.started_at, floor)
        if self.open is not None:
            return self._update(self.open, v, p, started)
        if self.maintenance_open is not None:
            self._update(self.maintenance_open, v, p, self.maintenance_open.started_at)
            return []
        window = calendar.active(self.service_id, v.started_at) if calendar else None
        inc = Incident(
            incident_id=f"{self.service_id}/{int(started)}",
            service=ref,
            started_at=started,
            detected_at=max(now, started),
            severity=v.state.value,
            customers_affected=v.customers_affected,
            detectors=[v.detector],
            evidence_ids=list(v.evidence_ids[: p.max_evidence]),
            maintenance=window is not None,
        )
        if window is not None:
            inc.incident_id += "/maintenance"
            inc.attrs["maintenance_window"] = window.to_dict()
            self.maintenance_open = inc
            return [IncidentEvent("maintenance_outage_started", v.at, inc.snapshot())]
        self.open = inc
        return [IncidentEvent("detected", inc.detected_at, inc.snapshot())]

    def _update(
        self, inc: Incident, v: Verdict, p: TrackerParams, started: float
    ) -> list[IncidentEvent]:
        changed = self._merge_evidence(inc, v, p)
        started = max(started, float(inc.attrs.get("not_before", started)))
        if started < inc.started_at:  # earlier first failing evidence from another detector
            inc.started_at = started
            changed = True
        if v.detector not in inc.detectors:
            inc.detectors.append(v.detector)
            changed = True
        if _SEVERITY.get(v.state.value, 0) > _SEVERITY.get(inc.severity, 0):
            inc.severity = v.state.value
            changed = True
        if v.customers_affected is not None and v.customers_affected > (
            inc.customers_affected or 0
        ):
            inc.customers_affected = v.customers_affected
            changed = True
        return [IncidentEvent("updated", v.at, inc.snapshot())] if changed else []

    @staticmethod
    def _merge_evidence(inc: Incident, v: Verdict, p: TrackerParams) -> bool:
        new = [e for e in v.evidence_ids if e not in inc.evidence_ids]
        room = p.max_evidence - len(inc.evidence_ids)
        inc.evidence_ids.extend(new[: max(room, 0)])
        return bool(new)

    def _clearing(self, v: Verdict, p: TrackerParams) -> list[IncidentEvent]:
        if v.detector not in self.asserting:
            return []
        del self.asserting[v.detector]
        if self.asserting:
            return []  # another detector still sees the outage
        events = []
        for attr, kind in (("open", "restored"), ("maintenance_open", "maintenance_outage_ended")):
            inc: Incident | None = getattr(self, attr)
            if inc is None:
                continue
            inc.restored_at = max(v.started_at, inc.started_at)
            setattr(self, attr, None)
            self._retire(inc, p)
            events.append(IncidentEvent(kind, v.at, inc.snapshot()))
        return events

    def tick(
        self, now: float, calendar: MaintenanceCalendar | None, params: TrackerParams | None = None
    ) -> list[IncidentEvent]:
        """Advance event time: an outage outlasting its maintenance window becomes an incident."""
        m = self.maintenance_open
        if m is None:
            return []
        window = MaintenanceWindow.from_dict(m.attrs["maintenance_window"])
        if now < window.end:
            return []
        p = params or TrackerParams()
        m.restored_at = window.end
        self.maintenance_open = None
        self._retire(m, p)
        still = calendar.active(self.service_id, window.end) if calendar else None
        inc = Incident(
            incident_id=f"{self.service_id}/{int(window.end)}",
            service=m.service,
            started_at=window.end,
            detected_at=now,
            severity=m.severity,
            customers_affected=m.customers_affected,
            detectors=list(m.detectors),
            evidence_ids=list(m.evidence_ids),
            maintenance=still is not None,
        )
        events = [IncidentEvent("maintenance_outage_ended", window.end, m.snapshot())]
        if still is not None:  # back-to-back windows: still maintenance
            inc.incident_id += "/maintenance"
            inc.attrs["maintenance_window"] = still.to_dict()
            self.maintenance_open = inc
            return [*events, IncidentEvent("maintenance_outage_started", now, inc.snapshot())]
        inc.attrs["not_before"] = window.end  # the part inside the window was planned
        self.open = inc
        return [*events, IncidentEvent("detected", now, inc.snapshot())]

    def acknowledge(
        self, at: float, method: str, by: str = "", operator_status: str | None = None
    ) -> list[IncidentEvent]:
        """Acknowledge the open incident (method: ``cli``, ``api`` or ``status_report``)."""
        inc = self.open
        if inc is None or inc.acknowledged_at is not None:
            return []
        inc.acknowledged_at = max(at, inc.detected_at)
        inc.ack_method, inc.ack_by, inc.operator_status = method, by, operator_status
        return [IncidentEvent("acknowledged", inc.acknowledged_at, inc.snapshot())]

    def on_status_report(self, obs: Observation) -> list[IncidentEvent]:
        """An operator status/outage report about this service: acknowledges an open
        incident when it admits a problem, and records the customers/users it says are hit."""
        if self.open is None or obs.status not in (
            Status.DOWN,
            Status.DEGRADED,
            Status.MAINTENANCE,
        ):
            return []
        events = self.acknowledge(obs.observed_at, "status_report", obs.operator_id, obs.status)
        inc = self.open
        changed = False
        if obs.customers_affected is not None and obs.customers_affected > (
            inc.customers_affected or 0
        ):
            inc.customers_affected = obs.customers_affected
            changed = True
        users = obs.attrs.get("users_affected")
        if isinstance(users, int) and users >= 0 and users > (inc.users_affected or 0):
            inc.users_affected = users
            changed = True
        if changed and not events:
            events.append(IncidentEvent("updated", obs.observed_at, inc.snapshot()))
        elif changed:
            events = [IncidentEvent("acknowledged", events[0].at, inc.snapshot())]
        return events

    # -- bookkeeping ---------------------------------------------------------------------
    def _last_real_closed(self) -> Incident | None:
        for inc in reversed(self.closed):
            if not inc.maintenance:
                return inc
        return None

    def _retire(self, inc: Incident, p: TrackerParams) -> None:
        self.closed.append(inc)
        newest = inc.restored_at if inc.restored_at is not None else inc.started_at
        self.closed = [
            c
            for c in self.closed
            if c.restored_at is None or c.restored_at >= newest - p.retention_s
        ][-p.max_closed :]

    def incidents(self) -> list[Incident]:
        """Closed and open incidents (including maintenance records), oldest first."""
        live = [i for i in (self.open, self.maintenance_open) if i is not None]
        return sorted([*self.closed, *live], key=lambda i: i.started_at)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state; what is absent or empty is left out (it is stored once per
        service in the worker's changelog and memory, and usually all of it is)."""
        data: dict[str, Any] = {"service_id": self.service_id}
        if self.open:
            data["open"] = self.open.to_dict()
        if self.maintenance_open:
            data["maintenance_open"] = self.maintenance_open.to_dict()
        if self.asserting:
            data["asserting"] = dict(self.asserting)
        if self.closed:
            data["closed"] = [c.to_dict() for c in self.closed]
        return data

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ServiceIncidents:
        """Inverse of :meth:`to_dict` (and of its earlier form, which wrote every key)."""
        s = cls(d["service_id"])
        s.open = Incident.from_dict(d["open"]) if d.get("open") else None
        mo = d.get("maintenance_open")
        s.maintenance_open = Incident.from_dict(mo) if mo else None
        s.asserting = {k: float(v) for k, v in d.get("asserting", {}).items()}
        s.closed = [Incident.from_dict(c) for c in d.get("closed", ())]
        return s


class IncidentTracker:
    """One :class:`ServiceIncidents` per service, with shared calendar and parameters."""

    def __init__(
        self, calendar: MaintenanceCalendar | None = None, params: TrackerParams | None = None
    ) -> None:
        self.calendar = calendar or MaintenanceCalendar()
        self.params = params or TrackerParams()
        self.services: dict[str, ServiceIncidents] = {}

    def service(self, service_id: str) -> ServiceIncidents:
        """The state of one service (created empty on first use)."""
        if service_id not in self.services:
            self.services[service_id] = ServiceIncidents(service_id)
        return self.services[service_id]

    def on_verdict(
        self, verdict: Verdict, ref: ServiceRef, now: float | None = None
    ) -> list[IncidentEvent]:
        """See :meth:`ServiceIncidents.apply`."""
        st = self.service(verdict.service_id)
        return st.apply(verdict, ref, self.calendar, self.params, now)

    def acknowledge(
        self, service_id: str, at: float, method: str = "api", by: str = ""
    ) -> list[IncidentEvent]:
        """See :meth:`ServiceIncidents.acknowledge`."""
        return self.service(service_id).acknowledge(at, method, by)

    def on_status_report(self, obs: Observation) -> list[IncidentEvent]:
        """See :meth:`ServiceIncidents.on_status_report`."""
        return self.service(obs.service_id).on_status_report(obs)

    def tick(self, now: float) -> list[IncidentEvent]:
        """See :meth:`ServiceIncidents.tick` (only services in maintenance do any work)."""
        out: list[IncidentEvent] = []
        for st in self.services.values():
            if st.maintenance_open is not None:
                out.extend(st.tick(now, self.calendar, self.params))
        return out

    def incidents(self, service_ids: Iterable[str] | None = None) -> list[Incident]:
        """All incidents (open and closed, maintenance records included), oldest first."""
        ids = self.services if service_ids is None else service_ids
        found = [i for sid in ids if sid in self.services for i in self.services[sid].incidents()]
        return sorted(found, key=lambda i: (i.started_at, i.incident_id))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state (the calendar is configuration and is not included)."""
        return {
            "params": flat_dict(self.params),
            "services": {k: v.to_dict() for k, v in self.services.items()},
        }

    @classmethod
    def from_dict(
        cls, d: dict[str, Any], calendar: MaintenanceCalendar | None = None
    ) -> IncidentTracker:
        """Inverse of :meth:`to_dict`."""
        tr = cls(calendar, TrackerParams(**d["params"]))
        tr.services = {k: ServiceIncidents.from_dict(v) for k, v in d["services"].items()}
        return tr
