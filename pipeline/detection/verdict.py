"""What every detector hands to the incident tracker: a state change of one service.

>>> v = Verdict("svc", "consensus", Status.DOWN, at=120.0, started_at=65.0, evidence_ids=("e1",))
>>> Verdict.from_dict(v.to_dict()) == v
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.core.schema import Status


@dataclass(frozen=True, slots=True)
class Verdict:
    """A detector's conclusion about a service, in event time.

    state: ``DOWN``/``DEGRADED`` assert an outage, ``UP`` clears it, ``UNKNOWN`` is advisory.
    at: event time the detector reached the conclusion (the detection time).
    started_at: first failing evidence (for an outage) or first good evidence (for ``UP``).
    """

    service_id: str
    detector: str
    state: Status
    at: float
    started_at: float
    evidence_ids: tuple[str, ...] = ()
    customers_affected: int | None = None
    detail: str = ""

    @property
    def failing(self) -> bool:
        """True when this verdict asserts an outage (down or degraded)."""
        return self.state in (Status.DOWN, Status.DEGRADED)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "service_id": self.service_id,
            "detector": self.detector,
            "state": self.state.value,
            "at": self.at,
            "started_at": self.started_at,
            "evidence_ids": list(self.evidence_ids),
            "customers_affected": self.customers_affected,
            "detail": self.detail,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        """Inverse of :meth:`to_dict`."""
        return cls(
            service_id=data["service_id"],
            detector=data["detector"],
            state=Status(data["state"]),
            at=float(data["at"]),
            started_at=float(data["started_at"]),
            evidence_ids=tuple(data["evidence_ids"]),
            customers_affected=data["customers_affected"],
            detail=data["detail"],
        )
