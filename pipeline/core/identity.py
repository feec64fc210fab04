"""Who and where a service is: the one identity type shared by connectors, worker and bench.

>>> ref = ServiceRef("grid.f12", "op", "energy", "UA-30", 1200)
>>> ServiceRef.from_dict(ref.to_dict()) == ref
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.core.schema import Observation


@dataclass(frozen=True, slots=True)
class ServiceRef:
    """A service's identity and the dimensions it is rolled up by (operator, sector, region)."""

    service_id: str
    operator_id: str
    sector: str
    region: str
    customers_served: int | None = None

    @classmethod
    def from_observation(cls, obs: Observation) -> ServiceRef:
        """The service an observation is about."""
        return cls(obs.service_id, obs.operator_id, obs.sector, obs.region, obs.customers_served)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "service_id": self.service_id,
            "operator_id": self.operator_id,
            "sector": self.sector,
            "region": self.region,
            "customers_served": self.customers_served,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ServiceRef:
        """Inverse of :meth:`to_dict`."""
        return cls(
            d["service_id"], d["operator_id"], d["sector"], d["region"], d.get("customers_served")
        )
