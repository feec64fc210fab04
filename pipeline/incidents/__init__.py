"""Incident lifecycle (pure): verdicts in, incident events out, state as plain dicts."""

from pipeline.incidents.maintenance import MaintenanceCalendar, MaintenanceWindow
from pipeline.incidents.model import EVENT_KINDS, Incident, IncidentEvent, ServiceRef
from pipeline.incidents.tracker import IncidentTracker, ServiceIncidents, TrackerParams

__all__ = [
    "EVENT_KINDS",
    "Incident",
    "IncidentEvent",
    "IncidentTracker",
    "MaintenanceCalendar",
    "MaintenanceWindow",
    "ServiceIncidents",
    "ServiceRef",
    "TrackerParams",
]
