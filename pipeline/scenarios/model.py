"""What a labelled scenario is: services, observations and the ground truth."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.core.schema import Observation
from pipeline.incidents.maintenance import MaintenanceWindow
from pipeline.incidents.model import ServiceRef


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """A simulated service and the evidence it produces."""

    ref: ServiceRef
    vantages: tuple[str, ...]
    heartbeat: bool
    level_metric: str | None  # e.g. "customers_reachable" (energy)
    kpi_metric: str | None  # e.g. "traffic_gbps" (telecom)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "service": self.ref.to_dict(),
            "vantages": list(self.vantages),
            "heartbeat": self.heartbeat,
            "level_metric": self.level_metric,
            "kpi_metric": self.kpi_metric,
        }


@dataclass(frozen=True, slots=True)
class TruthIncident:
    """A real outage: ``[start, end)`` of one service. ``kind``: full, partial, regional or
    overrun (an outage running past its maintenance window; it starts at the window end)."""

    service_id: str
    start: float
    end: float
    kind: str
    severity: float  # fraction of probes failing / of customers lost
    group: str = ""  # regional event id, for the correlation check

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "service_id": self.service_id,
            "start": self.start,
            "end": self.end,
            "kind": self.kind,
            "severity": self.severity,
            "group": self.group,
        }


@dataclass(slots=True)
class Scenario:
    """A generated scenario; ``observations`` are in arrival order (late ones and duplicates
    included), and ``maintenance_outages`` are outages inside declared windows (not incidents).
    """

    seed: int
    start: float
    end: float
    probe_interval_s: float
    heartbeat_interval_s: float
    services: list[ServiceSpec]
    observations: list[Observation]
    truth: list[TruthIncident]
    maintenance: list[MaintenanceWindow]
    maintenance_outages: list[TruthIncident] = field(default_factory=list)
    #: Episodes that must *not* become incidents (blips, feed stalls, vantages failing for
    #: everything: service_id "*" and the vantage in ``group``), for per-class precision.
    benign: list[TruthIncident] = field(default_factory=list)
    #: Arrival time of each observation (same order), when the generator knows it.
    arrivals: list[float] = field(default_factory=list)

    def truth_dict(self) -> dict[str, Any]:
        """The labels as JSON-able data (written next to the observations)."""
        return {
            "seed": self.seed,
            "start": self.start,
            "end": self.end,
            "probe_interval_s": self.probe_interval_s,
            "heartbeat_interval_s": self.heartbeat_interval_s,
            "services": [s.to_dict() for s in self.services],
            "incidents": [t.to_dict() for t in self.truth],
            "maintenance_windows": [w.to_dict() for w in self.maintenance],
            "maintenance_outages": [t.to_dict() for t in self.maintenance_outages],
            "benign_episodes": [t.to_dict() for t in self.benign],
        }
