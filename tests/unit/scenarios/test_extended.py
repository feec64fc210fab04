"""The extended suite: every failure class of issue 14, scored per class through the worker's
own wiring (a small scenario; `continuity evaluate --suite extended` runs the full one)."""

from __future__ import annotations

import pytest

from pipeline.scenarios.classes import format_classes, score_classes
from pipeline.scenarios.evaluation import evaluate, replay_as_worker
from pipeline.scenarios.extended import BENIGN_KINDS, TRUTH_KINDS, generate_extended
from pipeline.scenarios.generator import ScenarioConfig
from pipeline.scenarios.model import Scenario

SMALL = ScenarioConfig(seed=4, duration_s=24 * 3600.0, regions=("UA-30",))


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return generate_extended(SMALL)


def test_every_class_is_present_and_arrivals_are_ordered(scenario: Scenario) -> None:
    assert {t.kind for t in scenario.truth} >= set(TRUTH_KINDS)
    assert {b.kind for b in scenario.benign} >= set(BENIGN_KINDS)
    assert len(scenario.arrivals) == len(scenario.observations)
    assert scenario.arrivals == sorted(scenario.arrivals)
    late = [
        a - o.observed_at
        for a, o in zip(scenario.arrivals, scenario.observations, strict=True)
        if o.kind.value == "outage_report"
    ]
    assert min(late) >= 60.0  # outage-map reports arrive after newer probes


def test_the_worker_wiring_meets_the_bar_on_every_class(scenario: Scenario) -> None:
    report = score_classes(scenario, replay_as_worker(scenario).incidents())
    figures = report.to_dict()
    table = format_classes(report)
    for kind in TRUTH_KINDS:
        c = figures["classes"][kind]
        assert c["recall"] >= 0.97, table
        assert c["precision"] >= 0.97, table
        assert c["restore_error_s_p50"] <= 2 * 60.0, table
    for kind in BENIGN_KINDS:
        assert figures["classes"][kind]["precision"] >= 0.97, table
    assert figures["false_incidents_per_service_day"] <= 0.05, table


def test_the_extended_suite_needs_the_worker_engine() -> None:
    with pytest.raises(ValueError, match="worker"):
        evaluate((1,), SMALL, engine="replayer", suite="extended")
