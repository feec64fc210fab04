"""Pure detectors (no Kafka, no faust): each turns evidence into verdicts or scores."""

from pipeline.detection.blips import BlipPolicy
from pipeline.detection.consensus import ConsensusParams, ProbeConsensus, binomial_tail
from pipeline.detection.correlation import (
    DisruptionCorrelator,
    Finding,
    Span,
    concurrent_disruptions,
)
from pipeline.detection.dedup import RecentIds
from pipeline.detection.kpi import KpiAnomalyDetector, KpiParams
from pipeline.detection.level_drop import LevelDrop, LevelDropParams
from pipeline.detection.silence import SilenceDetector
from pipeline.detection.vantage import VantageHealth, VantageParams
from pipeline.detection.verdict import Verdict

__all__ = [
    "BlipPolicy",
    "ConsensusParams",
    "DisruptionCorrelator",
    "Finding",
    "KpiAnomalyDetector",
    "KpiParams",
    "LevelDrop",
    "LevelDropParams",
    "ProbeConsensus",
    "RecentIds",
    "SilenceDetector",
    "Span",
    "VantageHealth",
    "VantageParams",
    "Verdict",
    "binomial_tail",
    "concurrent_disruptions",
]
