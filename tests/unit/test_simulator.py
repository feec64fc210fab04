from __future__ import annotations

from collections import Counter

from pipeline.core.schema import Kind, Status
from pipeline.core.validation import parse_observation
from pipeline.demo.catalogue import DEFAULT_CYCLE_S, demo_services
from pipeline.demo.simulator import DEMO_SERVICES, DemoService, DemoSimulator
from pipeline.monitoring.status import status_from_observation

CYCLE = DEFAULT_CYCLE_S


def test_the_demo_country_is_big_enough_to_look_like_one() -> None:
    assert len(DEMO_SERVICES) >= 200
    assert {s.sector for s in DEMO_SERVICES} == {"energy", "health", "telecom", "transport"}
    assert len({s.region for s in DEMO_SERVICES}) >= 6
    assert len({s.operator_id for s in DEMO_SERVICES}) >= 12
    assert len({s.service_id for s in DEMO_SERVICES}) == len(DEMO_SERVICES)
    for sector in ("energy", "health", "telecom", "transport"):
        regions = {s.region for s in DEMO_SERVICES if s.sector == sector}
        assert len(regions) >= 6, f"{sector} covers only {regions}"


def test_the_country_is_generated_the_same_every_time() -> None:
    assert demo_services() == DEMO_SERVICES


def test_every_sector_and_region_has_outages_and_some_regions_fail_together() -> None:
    failing = [s for s in DEMO_SERVICES if s.outage is not None]
    assert {s.sector for s in failing} == {"energy", "health", "telecom", "transport"}
    assert {s.region for s in failing} == {s.region for s in DEMO_SERVICES}
    # Both momentary (< 5 min, MAIFI) and sustained (SAIFI/CAIDI) energy interruptions.
    lengths = {s.outage[1] - s.outage[0] for s in failing if s.sector == "energy" and s.outage}
    assert min(lengths) < 300 < max(lengths)
    operators_failing = Counter((s.region, s.operator_id) for s in failing)
    per_region = Counter(region for region, _ in operators_failing)
    assert max(per_region.values()) >= 2, "no region where two operators fail in one cycle"
    assert all(0 <= s.outage[0] < s.outage[1] <= CYCLE for s in failing if s.outage)


def test_every_simulated_observation_is_valid() -> None:
    sim = DemoSimulator(DEMO_SERVICES, cycle=CYCLE, start=0.0)
    observations = sim.tick(CYCLE)
    assert len(observations) > 10_000
    for obs in observations[::37]:
        assert parse_observation(obs.to_json(), now=CYCLE) == obs


def _first(mode: str, kind: Kind | None = None) -> DemoService:
    return next(
        s
        for s in DEMO_SERVICES
        if s.outage_mode == mode and s.outage is not None and kind in (None, s.kind)
    )


def test_outages_show_as_failing_evidence_silence_spikes_or_one_vantage() -> None:
    reported = _first("report", Kind.OUTAGE_REPORT)
    assert reported.outage is not None
    sim = DemoSimulator((reported,), cycle=CYCLE, start=0.0)
    before = sim.tick(reported.outage[0] - 1)
    during = sim.tick(reported.outage[1] - 1)
    assert {status_from_observation(o) for o in before} == {Status.UP}
    assert Status.DOWN in {status_from_observation(o) for o in during}

    silent = _first("silence")
    assert silent.outage is not None
    sim = DemoSimulator((silent,), cycle=CYCLE, start=0.0)
    sim.tick(silent.outage[0] - 1)
    assert sim.tick(silent.outage[1] - 1) == []

    spiking = _first("spike")
    assert spiking.outage is not None
    sim = DemoSimulator((spiking,), cycle=CYCLE, start=0.0)
    calm = [o.value for o in sim.tick(spiking.outage[0] - 1) if o.value is not None]
    spike = [o.value for o in sim.tick(spiking.outage[1] - 1) if o.value is not None]
    assert max(spike) > 10 * max(calm)

    partial = _first("partial")
    assert partial.outage is not None
    sim = DemoSimulator((partial,), cycle=CYCLE, start=0.0)
    sim.tick(partial.outage[0])
    seen = {(o.vantage, o.status) for o in sim.tick(partial.outage[0] + partial.interval)}
    assert {status for _, status in seen} == {Status.UP, Status.DOWN}
    assert sum(1 for _, status in seen if status is Status.DOWN) == 1


def test_transport_evidence_names_its_route_and_effect() -> None:
    route = next(s for s in DEMO_SERVICES if s.sector == "transport")
    (obs,) = DemoSimulator((route,), cycle=CYCLE, start=0.0).tick(0.0)
    assert obs.attrs["effect"] in ("NO_SERVICE", "REDUCED_SERVICE")
    assert obs.attrs["route_id"]


def test_ticks_do_not_repeat_evidence() -> None:
    sim = DemoSimulator(DEMO_SERVICES, cycle=CYCLE, start=0.0)
    first = {o.event_id for o in sim.tick(30.0)}
    second = {o.event_id for o in sim.tick(60.0)}
    assert first
    assert second
    assert not first & second
