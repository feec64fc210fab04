"""Scenario generator and evaluation: labels, determinism, and the quality bar."""

from __future__ import annotations

import itertools
from collections import Counter

import orjson
import pytest

from pipeline.scenarios.evaluation import Evaluation, evaluate, format_report, replay, score
from pipeline.scenarios.generator import ScenarioConfig, generate
from pipeline.scenarios.model import Scenario
from pipeline.scenarios.replay import Replayer

SMALL = ScenarioConfig(
    seed=11,
    duration_s=14 * 3600.0,
    regions=("UA-30", "UA-46"),
    outage_gap_mean_s=5 * 3600.0,
    regional_events_per_day=2.0,
    maintenance_share=0.4,
)


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return generate(SMALL)


@pytest.fixture(scope="module")
def replayed(scenario: Scenario) -> Replayer:
    return replay(scenario)


def test_generation_is_deterministic_from_the_seed() -> None:
    tiny = ScenarioConfig(seed=12, duration_s=7 * 3600.0, regions=("UA-30",))
    one, two = generate(tiny), generate(tiny)
    assert one.observations == two.observations
    assert one.truth == two.truth
    other = generate(ScenarioConfig(seed=13, duration_s=3600.0, regions=("UA-30",)))
    assert other.observations[:100] != one.observations[:100]


def test_scenario_has_every_kind_of_evidence_and_noise(scenario: Scenario) -> None:
    kinds = Counter(o.kind.value for o in scenario.observations)
    assert set(kinds) == {"probe", "heartbeat", "kpi", "status_report"}
    ids = [o.event_id for o in scenario.observations]
    assert len(ids) > len(set(ids))  # duplicated deliveries
    times = [o.observed_at for o in scenario.observations]
    assert any(b < a - 20.0 for a, b in itertools.pairwise(times))  # late arrivals
    failures = [o for o in scenario.observations if o.kind.value == "probe" and o.status != "up"]
    in_truth = [
        o
        for o in failures
        if any(
            t.service_id == o.service_id and t.start <= o.observed_at < t.end
            for t in scenario.truth
        )
    ]
    assert len(failures) - len(in_truth) > 50  # failing probes outside any real outage


def test_truth_is_consistent(scenario: Scenario) -> None:
    assert {t.kind for t in scenario.truth} >= {"full", "regional"}
    by_service: dict[str, list[tuple[float, float]]] = {}
    for t in [*scenario.truth, *scenario.maintenance_outages]:
        assert scenario.start < t.start < t.end <= scenario.end
        by_service.setdefault(t.service_id, []).append((t.start, t.end))
    for spans in by_service.values():
        spans.sort()
        assert all(b[0] >= a[1] for a, b in itertools.pairwise(spans))
    for m in scenario.maintenance_outages:
        assert any(w.service_id == m.service_id and w.start <= m.start and m.end <= w.end
                   for w in scenario.maintenance)  # fmt: skip
    truth = orjson.loads(orjson.dumps(scenario.truth_dict()))
    assert len(truth["incidents"]) == len(scenario.truth)


def test_replay_meets_the_quality_bar_on_a_small_scenario(
    scenario: Scenario, replayed: Replayer
) -> None:
    ev = score(scenario, replayed)
    assert ev.truth >= 10
    assert ev.precision >= 0.95, ev.false_positives
    assert ev.recall >= 0.95, ev.missed
    assert ev.maintenance_recorded == ev.maintenance_outages
    d = ev.to_dict()
    assert d["ttd_s"]["p50"] <= 2 * scenario.probe_interval_s
    assert d["regional_events_correlated"] == d["regional_events"]
    assert "precision" in format_report(ev)


def test_replay_is_robust_to_extra_duplicates_and_reordering(
    scenario: Scenario, replayed: Replayer
) -> None:
    base = replayed.incidents()
    noisy = Scenario(**{**{f: getattr(scenario, f) for f in Scenario.__slots__}})
    obs = scenario.observations
    # every observation delivered twice, pairs of neighbours swapped
    shuffled = [o for pair in zip(obs[1::2], obs[0::2], strict=False) for o in pair]
    noisy.observations = [o for o in shuffled for _ in range(2)]
    again = replay(noisy).incidents()
    assert len(again) == len(base)
    assert [i.incident_id for i in again] == [i.incident_id for i in base]


def test_evaluate_pools_several_seeds() -> None:
    cfg = ScenarioConfig(duration_s=6 * 3600.0, regions=("UA-30",), outage_gap_mean_s=7200.0)
    ev = evaluate((1, 2), cfg)
    assert ev.seeds == [1, 2]
    assert ev.truth > 0
    assert ev.recalled <= ev.truth


def test_merge_adds_counts_and_samples() -> None:
    a = Evaluation(seeds=[1], truth=4, recalled=3, detected=5, true_positive=3, ttd_s=[10.0])
    a.by_kind = {"full": [4, 3]}
    b = Evaluation(seeds=[2], truth=6, recalled=6, detected=6, true_positive=6, ttd_s=[30.0])
    b.by_kind = {"full": [2, 2], "partial": [4, 4]}
    a.merge(b)
    assert (a.truth, a.recalled, a.detected, a.true_positive) == (10, 9, 11, 9)
    assert a.precision == 9 / 11
    assert a.recall == 0.9
    assert a.by_kind == {"full": [6, 5], "partial": [4, 4]}
    assert a.to_dict()["ttd_s"]["p50"] == 20.0
    assert Evaluation().precision == Evaluation().recall == 1.0
