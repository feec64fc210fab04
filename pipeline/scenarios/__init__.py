"""Labelled synthetic scenarios and their evaluation through the real detectors."""

from pipeline.scenarios.evaluation import (
    DEFAULT_SEEDS,
    Evaluation,
    evaluate,
    format_report,
    replay,
    score,
)
from pipeline.scenarios.generator import ScenarioConfig, generate
from pipeline.scenarios.model import Scenario, ServiceSpec, TruthIncident
from pipeline.scenarios.replay import Replayer, ReplayParams

__all__ = [
    "DEFAULT_SEEDS",
    "Evaluation",
    "ReplayParams",
    "Replayer",
    "Scenario",
    "ScenarioConfig",
    "ServiceSpec",
    "TruthIncident",
    "evaluate",
    "format_report",
    "generate",
    "replay",
    "score",
]
