"""Public cells: the minimum group size hides small operators; pooling; incidents per cell."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pipeline.publish.aggregate import OTHER_REGIONS, public_cells
from pipeline.publish.config import PublicPolicy
from pipeline.publish.records import ServiceState
from tests.unit.publish.snapshots import INCIDENTS, SERVICES


def test_only_cells_with_enough_services_and_operators_are_published() -> None:
    cells, withheld = public_cells(SERVICES, INCIDENTS, PublicPolicy())
    assert [(c.sector, c.region, c.services, c.operators) for c in cells] == [
        ("energy", "UA-30", 3, 2)
    ]
    assert cells[0].status == "down"
    assert cells[0].status_counts == {"down": 1, "up": 2}
    # the lone small operator and the single-operator health cell are withheld, not shown
    assert withheld == 4


def test_small_cells_of_one_sector_are_pooled_under_other_regions() -> None:
    services = [
        ServiceState("a", "op1", "telecom", "UA-30", "up", 0.0),
        ServiceState("b", "op2", "telecom", "UA-46", "down", 0.0),
        ServiceState("c", "op3", "telecom", "UA-48", "up", 0.0),
    ]
    cells, withheld = public_cells(services, [], PublicPolicy())
    assert [(c.region, c.services, c.operators, c.status) for c in cells] == [
        (OTHER_REGIONS, 3, 3, "down")
    ]
    assert withheld == 0


def test_a_stricter_policy_withholds_more() -> None:
    cells, withheld = public_cells(SERVICES, INCIDENTS, PublicPolicy(min_group_operators=3))
    # UA-30 (two operators) no longer qualifies alone; pooled with UA-46 it has three
    assert [(c.region, c.services, c.operators) for c in cells] == [(OTHER_REGIONS, 4, 3)]
    assert withheld == 3
    cells, withheld = public_cells(SERVICES, INCIDENTS, PublicPolicy(min_group_operators=4))
    assert cells == []
    assert withheld == len(SERVICES)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["op1", "op2", "op3", "op4"]),
            st.sampled_from(["energy", "health"]),
            st.sampled_from(["UA-30", "UA-46", "EE-78"]),
        ),
        max_size=30,
    ),
    st.integers(1, 5),
    st.integers(1, 3),
)
def test_every_published_cell_meets_the_policy_and_nothing_is_lost(
    rows: list[tuple[str, str, str]], min_services: int, min_operators: int
) -> None:
    services = [
        ServiceState(f"s{i}", op, sec, reg, "up", 0.0) for i, (op, sec, reg) in enumerate(rows)
    ]
    policy = PublicPolicy(min_group_services=min_services, min_group_operators=min_operators)
    cells, withheld = public_cells(services, [], policy)
    for cell in cells:
        assert cell.services >= min_services
        assert cell.operators >= min_operators
    assert sum(c.services for c in cells) + withheld == len(services)
    published = [sid for c in cells for sid in c.service_ids]
    assert len(published) == len(set(published))
