"""Indicators verification bodies publish (DESIGN.md §4), as pure functions over incidents."""

from pipeline.indicators.ieee1366 import (
    Interruption,
    Reliability,
    daily_saidi,
    excluding_major_event_days,
    interruptions_from_incidents,
    major_event_days,
    reliability,
    t_med,
)
from pipeline.indicators.rollup import DEFAULT_WINDOWS, IndicatorValue, rollup
from pipeline.indicators.sectors import (
    EndpointCheck,
    NorsOutage,
    endpoint_availability,
    endpoint_status_share,
    feeds_reporting_share,
    nors_outages,
    nors_reportable,
    transport_effect_minutes,
    user_minutes,
)
from pipeline.indicators.service import (
    Availability,
    availability,
    incident_frequency,
    mean_availability,
    time_to_detect,
    time_to_restore,
)
from pipeline.indicators.stats import Summary, percentile, summarise

__all__ = [
    "DEFAULT_WINDOWS",
    "Availability",
    "EndpointCheck",
    "IndicatorValue",
    "Interruption",
    "NorsOutage",
    "Reliability",
    "Summary",
    "availability",
    "daily_saidi",
    "endpoint_availability",
    "endpoint_status_share",
    "excluding_major_event_days",
    "feeds_reporting_share",
    "incident_frequency",
    "interruptions_from_incidents",
    "major_event_days",
    "mean_availability",
    "nors_outages",
    "nors_reportable",
    "percentile",
    "reliability",
    "rollup",
    "summarise",
    "t_med",
    "time_to_detect",
    "time_to_restore",
    "transport_effect_minutes",
    "user_minutes",
]
