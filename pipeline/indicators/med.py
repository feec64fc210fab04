"""IEEE 1366 Major Event Days per energy operator: T_MED, today's flag, SAIDI without MEDs.

Pure: incidents, the service inventory and ``now`` in; :class:`IndicatorValue` rows out
(dimension ``operator``), next to the roll-up's. For each operator with energy services:

* the daily SAIDI of every *completed* (UTC) day of the history the caller holds (the worker
  holds its longest window, 30 days); an interruption's customer-minutes accrue to the day it
  began (IEEE 1366);
* ``T_MED = exp(alpha + 2.5 beta)`` over the days with positive SAIDI
  (:func:`pipeline.indicators.ieee1366.t_med`), once at least ``min_days`` such days exist.
  IEEE 1366 asks for five years of daily history; with less it uses what there is, and so do
  we, down to ``min_days``. With fewer positive days no threshold is estimated: the flag is
  ``UNDETERMINED`` (-1), no day is excluded and SAIDI without MEDs equals SAIDI;
* ``major_event_day`` (window ``today``): 1 when today's SAIDI so far exceeds T_MED, 0 when
  it does not, -1 when T_MED is undetermined;
* ``major_event_days`` (history window): completed days of the history above T_MED;
* ``saidi_excl_med_min`` per roll-up window: SAIDI of the interruptions that did not begin on
  a MED (completed days above T_MED, and today when flagged).

>>> from pipeline.incidents.model import Incident, ServiceRef
>>> ref = ServiceRef("f1", "grid", "energy", "UA-30", customers_served=100)
>>> day = 86_400.0
>>> incs = [Incident(f"f1/{d}", ref, d * day + 3600, d * day + 3600,
...                  restored_at=d * day + 3600 + 60 * (10 + d % 3)) for d in range(12)]
>>> big = 12 * day + 60  # a 600-minute interruption of every customer today
>>> incs.append(Incident("f1/big", ref, big, big, restored_at=big + 600 * 60))
>>> rows = {(r.name, r.window): r.value for r in
...         major_event_rows(incs, [ref], now=12 * day + 50_000, windows={"24h": day},
...                          history_s=13 * day)}
>>> rows[("med_history_days", "history")], round(rows[("t_med_min", "history")], 2)
(12, 13.32)
>>> rows[("major_event_day", "today")], rows[("saidi_excl_med_min", "24h")]
(1, 0.0)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from pipeline.incidents.model import Incident, ServiceRef
from pipeline.indicators.ieee1366 import (
    DAY,
    daily_saidi,
    excluding_major_event_days,
    interruptions_from_incidents,
    reliability,
    t_med,
)
from pipeline.indicators.rollup import IndicatorValue

#: Positive-SAIDI days needed before T_MED is estimated (IEEE 1366 recommends five years).
MIN_MED_DAYS = 10
MED, NOT_MED, UNDETERMINED = 1, 0, -1
HISTORY = "history"


def major_event_rows(
    incidents: Sequence[Incident],
    services: Iterable[ServiceRef],
    now: float,
    windows: Mapping[str, float],
    history_s: float | None = None,
    min_days: int = MIN_MED_DAYS,
) -> list[IndicatorValue]:
    """T_MED, today's flag, MED count and SAIDI without MEDs for every energy operator.

    ``history_s`` (default: the longest window) is how far back the daily SAIDI goes;
    ``min_days`` (at least 2: beta is a sample standard deviation) positive days are needed."""
    if min_days < 2:
        raise ValueError("min_days must be at least 2 (beta is a sample standard deviation)")
    history = history_s if history_s is not None else max(windows.values(), default=DAY)
    start = now - history
    served: dict[str, int] = {}
    for ref in services:
        if ref.sector == "energy":
            served[ref.operator_id] = served.get(ref.operator_id, 0) + (ref.customers_served or 0)
    by_operator: dict[str, list[Incident]] = {}
    for inc in incidents:
        if inc.service.sector == "energy" and not inc.evidence_gap:
            by_operator.setdefault(inc.service.operator_id, []).append(inc)
            served.setdefault(inc.service.operator_id, inc.service.customers_served or 0)
    rows: list[IndicatorValue] = []
    for operator, customers in sorted(served.items()):
        if customers > 0:
            rows.extend(
                _operator_rows(
                    operator,
                    by_operator.get(operator, []),
                    customers,
                    now,
                    start,
                    windows,
                    min_days,
                )
            )
    return rows


def _operator_rows(
    operator: str,
    incidents: Sequence[Incident],
    customers: int,
    now: float,
    start: float,
    windows: Mapping[str, float],
    min_days: int,
) -> list[IndicatorValue]:
    interruptions = interruptions_from_incidents(incidents, start, now)
    daily = daily_saidi(interruptions, customers)
    today = math.floor(now / DAY)
    completed = [v for d, v in daily.items() if d < today]
    positive_days = sum(1 for v in completed if v > 0)
    threshold = t_med(completed) if positive_days >= min_days else None
    rows = [IndicatorValue("med_history_days", "operator", operator, HISTORY, positive_days)]
    med_days: list[int] = []
    if threshold is None:
        flag = UNDETERMINED
    else:
        med_days = sorted(d for d, v in daily.items() if v > threshold)
        flag = MED if today in med_days else NOT_MED
        rows.append(IndicatorValue("t_med_min", "operator", operator, HISTORY, threshold))
        rows.append(
            IndicatorValue(
                "major_event_days",
                "operator",
                operator,
                HISTORY,
                float(sum(1 for d in med_days if d < today)),
            )
        )
    rows.append(IndicatorValue("major_event_day", "operator", operator, "today", flag))
    for label, length in windows.items():
        window_start = now - length
        kept = excluding_major_event_days(
            interruptions_from_incidents(incidents, window_start, now), med_days
        )
        saidi = reliability(kept, customers, max(length, 60.0) / 60.0).saidi
        rows.append(IndicatorValue("saidi_excl_med_min", "operator", operator, label, saidi))
    return rows
