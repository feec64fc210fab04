from __future__ import annotations

from pipeline.core.schema import Status
from pipeline.core.validation import parse_observation
from pipeline.demo.simulator import DEMO_SERVICES, DemoSimulator
from pipeline.monitoring.status import status_from_observation


def test_every_simulated_observation_is_valid() -> None:
    sim = DemoSimulator(DEMO_SERVICES, cycle=300.0, start=0.0)
    observations = sim.tick(600.0)
    assert observations
    for obs in observations:
        assert parse_observation(obs.to_json(), now=600.0) == obs


def test_outages_are_injected_in_each_sector() -> None:
    sim = DemoSimulator(DEMO_SERVICES, cycle=300.0, start=0.0)
    failing = {
        o.sector
        for o in sim.tick(299.0)
        if status_from_observation(o) in (Status.DOWN, Status.DEGRADED)
    }
    assert failing == {"energy", "health", "transport"}
    silent = next(s for s in DEMO_SERVICES if s.outage_mode == "silence")
    during = DemoSimulator((silent,), cycle=300.0, start=0.0)
    during.tick(silent.outage[0] - 1)  # type: ignore[index]
    assert during.tick(silent.outage[1] - 1) == []  # type: ignore[index]


def test_ticks_do_not_repeat_evidence() -> None:
    sim = DemoSimulator(DEMO_SERVICES, cycle=300.0, start=0.0)
    first = {o.event_id for o in sim.tick(30.0)}
    second = {o.event_id for o in sim.tick(60.0)}
    assert first
    assert second
    assert not first & second
