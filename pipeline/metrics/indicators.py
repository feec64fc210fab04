"""Indicator values as Prometheus gauges, in base units, with one family per concept.

``pipeline.indicators.rollup`` names values as the standards do (``saidi_min``,
``ttd_p90_s``); here each becomes a ``continuity_<noun>_<unit>`` gauge: minutes are turned
into seconds, and variants (statistic, maintenance, effect) become labels. The FCC's
user-minutes stay in user-minutes: that unit *is* the threshold operators know (900 000).

>>> from prometheus_client import CollectorRegistry
>>> from pipeline.indicators.rollup import IndicatorValue
>>> gauges = IndicatorGauges(CollectorRegistry())
>>> gauges.update([IndicatorValue("saidi_min", "sector", "energy", "24h", 1.5)])
1
>>> gauges.registry.get_sample_value("continuity_saidi_seconds",
...     {"dimension": "sector", "key": "energy", "window": "24h"})
90.0
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Gauge

from pipeline.indicators.rollup import IndicatorValue

_BASE = ("dimension", "key", "window")

#: rollup name -> (metric, help, extra labels, scale to base unit)
_MAPPING: dict[str, tuple[str, str, dict[str, str], float]] = {
    "availability_incl_maintenance": (
        "continuity_availability_ratio",
        "Up time / (up + down time) (ITU-T E.800 style).",
        {"maintenance": "included"},
        1.0,
    ),
    "availability_excl_maintenance": (
        "continuity_availability_ratio",
        "Up time / (up + down time) (ITU-T E.800 style).",
        {"maintenance": "excluded"},
        1.0,
    ),
    "downtime_s": ("continuity_downtime_seconds", "Down time outside maintenance.", {}, 1.0),
    "maintenance_downtime_s": (
        "continuity_maintenance_downtime_seconds",
        "Down time inside maintenance windows.",
        {},
        1.0,
    ),
    "incidents_per_30d": (
        "continuity_incidents_per_30d",
        "Incidents per service per 30 days.",
        {},
        1.0,
    ),
    "open_incidents": ("continuity_open_incidents", "Incidents not yet restored.", {}, 1.0),
    "ttd_count": ("continuity_time_to_detect_samples", "Incidents timed for detection.", {}, 1.0),
    "ttr_count": (
        "continuity_time_to_restore_samples",
        "Incidents timed for restoration.",
        {},
        1.0,
    ),
    "saifi": ("continuity_saifi_interruptions", "IEEE 1366 SAIFI per customer served.", {}, 1.0),
    "saidi_min": ("continuity_saidi_seconds", "IEEE 1366 SAIDI (in seconds).", {}, 60.0),
    "caidi_min": ("continuity_caidi_seconds", "IEEE 1366 CAIDI (in seconds).", {}, 60.0),
    "asai": ("continuity_asai_ratio", "IEEE 1366 ASAI.", {}, 1.0),
    "maifi": ("continuity_maifi_interruptions", "IEEE 1366 MAIFI per customer served.", {}, 1.0),
    "t_med_min": (
        "continuity_med_threshold_seconds",
        "IEEE 1366 Major Event Day threshold T_MED = exp(alpha + 2.5 beta) of daily SAIDI "
        "(in seconds of SAIDI).",
        {},
        60.0,
    ),
    "med_history_days": (
        "continuity_med_history_days",
        "Completed days with positive SAIDI that T_MED is estimated from.",
        {},
        1.0,
    ),
    "major_event_day": (
        "continuity_major_event_day",
        "1 when today's SAIDI exceeds T_MED (an IEEE 1366 Major Event Day), 0 when it does "
        "not, -1 when T_MED is undetermined (too little daily history).",
        {},
        1.0,
    ),
    "major_event_days": (
        "continuity_major_event_days",
        "Completed days of the history whose SAIDI exceeds T_MED.",
        {},
        1.0,
    ),
    "saidi_excl_med_min": (
        "continuity_saidi_excl_med_seconds",
        "IEEE 1366 SAIDI excluding Major Event Days (in seconds).",
        {},
        60.0,
    ),
    "nors_user_minutes": (
        "continuity_nors_user_minutes",
        "FCC NORS users affected x minutes.",
        {},
        1.0,
    ),
    "nors_reportable_outages": (
        "continuity_nors_reportable_outages",
        "Outages over the FCC NORS thresholds.",
        {},
        1.0,
    ),
    "no_service_minutes": (
        "continuity_transport_effect_seconds",
        "GTFS-RT service effect duration.",
        {"effect": "NO_SERVICE"},
        60.0,
    ),
    "reduced_service_minutes": (
        "continuity_transport_effect_seconds",
        "GTFS-RT service effect duration.",
        {"effect": "REDUCED_SERVICE"},
        60.0,
    ),
}
for _stat in ("mean", "p50", "p90"):
    _MAPPING[f"ttd_{_stat}_s"] = (
        "continuity_time_to_detect_seconds",
        "detected_at - started_at.",
        {"stat": _stat},
        1.0,
    )
    _MAPPING[f"ttr_{_stat}_s"] = (
        "continuity_time_to_restore_seconds",
        "restored_at - detected_at.",
        {"stat": _stat},
        1.0,
    )


class IndicatorGauges:
    """One gauge family per indicator concept, registered on the given registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._gauges: dict[str, Gauge] = {}
        #: (dimension, key) -> the (metric, label values) set for it, so a key can be dropped.
        self._series: dict[tuple[str, str], set[tuple[str, tuple[str, ...]]]] = {}
        for metric, doc, extra, _scale in _MAPPING.values():
            if metric not in self._gauges:
                self._gauges[metric] = Gauge(
                    metric, doc, [*_BASE, *sorted(extra)], registry=registry
                )

    def update(self, rows: Iterable[IndicatorValue]) -> int:
        """Set every defined value; returns how many were set (undefined ones are skipped)."""
        count = 0
        for row in rows:
            mapped = _MAPPING.get(row.name)
            if mapped is None or row.value is None:
                continue
            metric, _doc, extra, scale = mapped
            values = (row.dimension, row.key, row.window, *(extra[k] for k in sorted(extra)))
            self._gauges[metric].labels(*values).set(row.value * scale)
            self._series.setdefault((row.dimension, row.key), set()).add((metric, values))
            count += 1
        return count

    def remove(self, dimension: str, key: str) -> int:
        """Drop every series of one group (e.g. a service with no incident left in any
        window); returns how many were removed."""
        series = self._series.pop((dimension, key), set())
        for metric, values in series:
            self._gauges[metric].remove(*values)
        return len(series)


def known_indicator_names() -> frozenset[str]:
    return frozenset(_MAPPING)
