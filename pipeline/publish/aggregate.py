"""Public aggregation: services grouped into sector x region cells, small cells withheld.

A cell is published only when it holds at least ``min_group_services`` services from at
least ``min_group_operators`` operators, so no figure is one operator's. A sector's cells
that fall short are pooled into one "other regions" cell, published under the same rule;
what still falls short is withheld and only counted. Incidents follow their service's cell.

>>> from pipeline.publish.records import ServiceState
>>> s = [ServiceState(f"s{i}", f"op{i % 2}", "energy", "UA-30", "up", 0.0) for i in range(4)]
>>> s.append(ServiceState("lone", "op9", "health", "EE-78", "down", 0.0))
>>> cells, withheld = public_cells(s, [], PublicPolicy())
>>> [(c.label, c.services, c.status) for c in cells], withheld
([('energy · UA-30', 4, 'up')], 1)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pipeline.core.schema import STATUS_SEVERITY, Status
from pipeline.publish.config import PublicPolicy
from pipeline.publish.records import IncidentRecord, ServiceState

OTHER_REGIONS = "other regions"


@dataclass(slots=True)
class Cell:
    """One published sector x region group (``region`` may be :data:`OTHER_REGIONS`)."""

    sector: str
    region: str
    services: int = 0
    operators: int = 0
    status_counts: dict[str, int] = field(default_factory=dict)
    service_ids: set[str] = field(default_factory=set)

    @property
    def label(self) -> str:
        return f"{self.sector} · {self.region}"

    @property
    def status(self) -> str:
        """The worst status any service of the cell is in."""
        worst = max(
            (Status(s) for s in self.status_counts if s in Status.__members__.values()),
            key=lambda s: STATUS_SEVERITY[s],
            default=Status.UP,
        )
        return worst.value

    @property
    def share_up(self) -> float:
        return self.status_counts.get(Status.UP.value, 0) / self.services if self.services else 1.0


def public_cells(
    services: Sequence[ServiceState], incidents: Iterable[IncidentRecord], policy: PublicPolicy
) -> tuple[list[Cell], int]:
    """Published cells (sorted by sector, region) and how many services were withheld."""
    del incidents  # cells are built from the inventory; incidents are attached by cell_of
    raw: dict[tuple[str, str], list[ServiceState]] = {}
    for state in services:
        raw.setdefault((state.sector, state.region), []).append(state)
    published: list[Cell] = []
    pooled: dict[str, list[ServiceState]] = {}
    for (sector, region), members in sorted(raw.items()):
        if _big_enough(members, policy):
            published.append(_cell(sector, region, members))
        else:
            pooled.setdefault(sector, []).extend(members)
    withheld = 0
    for sector, members in sorted(pooled.items()):
        if _big_enough(members, policy):
            published.append(_cell(sector, OTHER_REGIONS, members))
        else:
            withheld += len(members)
    published.sort(key=lambda c: (c.sector, c.region == OTHER_REGIONS, c.region))
    return published, withheld


def cell_of(cells: Iterable[Cell]) -> dict[str, Cell]:
    """service id -> its published cell (withheld services are absent)."""
    return {sid: cell for cell in cells for sid in cell.service_ids}


def _big_enough(members: Sequence[ServiceState], policy: PublicPolicy) -> bool:
    operators = {m.operator_id for m in members}
    return len(members) >= policy.min_group_services and len(operators) >= (
        policy.min_group_operators
    )


def _cell(sector: str, region: str, members: Sequence[ServiceState]) -> Cell:
    cell = Cell(sector, region, len(members), len({m.operator_id for m in members}))
    for m in members:
        cell.status_counts[m.status] = cell.status_counts.get(m.status, 0) + 1
        cell.service_ids.add(m.service_id)
    return cell
