"""IEEE 1366 distribution reliability indices and the Major Event Day threshold.

With ``N_T`` customers served, ``N_i`` customers interrupted by interruption ``i`` and ``r_i``
its duration in minutes:

* sustained interruption: ``r_i > 5`` minutes; shorter ones are momentary;
* SAIFI = sum(N_i) / N_T (sustained);  SAIDI = sum(r_i * N_i) / N_T minutes (sustained);
* CAIDI = SAIDI / SAIFI minutes;  MAIFI = sum(N_i momentary) / N_T;
* ASAI = (N_T * T - sum(r_i * N_i)) / (N_T * T) with T the period in minutes (sustained);
* Major Event Day threshold ``T_MED = exp(alpha + 2.5 beta)``, alpha / beta the mean and
  sample standard deviation (n - 1) of ln(daily SAIDI) over the history. Days with zero
  SAIDI are left out (ln 0 is undefined; IEEE 1366 does the same). An interruption's
  customer-minutes accrue to the day it began (IEEE 1366). A day whose SAIDI exceeds T_MED
  is a Major Event Day; indices are usually reported with and without MEDs.

>>> ints = [Interruption(0.0, 100, 30.0), Interruption(0.0, 50, 2.0)]
>>> r = reliability(ints, customers_served=1000, period_minutes=1440.0)
>>> r.saifi, r.saidi, r.caidi, r.maifi
(0.1, 3.0, 30.0, 0.05)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pipeline.incidents.model import Incident

SUSTAINED_MINUTES = 5.0
DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class Interruption:
    """One interruption: start (epoch s), customers interrupted, duration in minutes."""

    start: float
    customers: int
    minutes: float

    @property
    def sustained(self) -> bool:
        """Longer than 5 minutes (IEEE 1366)."""
        return self.minutes > SUSTAINED_MINUTES


@dataclass(frozen=True, slots=True)
class Reliability:
    """IEEE 1366 indices over one period; ``None`` where undefined (e.g. CAIDI with SAIFI 0)."""

    saifi: float
    saidi: float
    caidi: float | None
    asai: float
    maifi: float
    customers_served: int


def interruptions_from_incidents(
    incidents: Iterable[Incident], start: float, end: float
) -> list[Interruption]:
    """Unplanned incidents overlapping ``[start, end)``, cut to it; customers interrupted are
    ``customers_affected``, else the service's ``customers_served`` (a whole feeder down)."""
    out = []
    for i in incidents:
        if i.maintenance:
            continue
        s, e = max(i.started_at, start), min(i.end_or(end), end)
        customers = i.customers_affected
        if customers is None:
            customers = i.service.customers_served or 0
        if e > s and customers > 0:
            out.append(Interruption(s, customers, (e - s) / 60.0))
    return out


def reliability(
    interruptions: Iterable[Interruption], customers_served: int, period_minutes: float
) -> Reliability:
    """SAIFI, SAIDI, CAIDI, ASAI and MAIFI for ``customers_served`` over a period."""
    if customers_served <= 0 or period_minutes <= 0:
        raise ValueError("customers_served and period_minutes must be positive")
    sustained = [i for i in interruptions if i.sustained]
    momentary = [i for i in interruptions if not i.sustained]
    interrupted = sum(i.customers for i in sustained)
    customer_minutes = sum(i.customers * i.minutes for i in sustained)
    saifi = interrupted / customers_served
    saidi = customer_minutes / customers_served
    demanded = customers_served * period_minutes
    return Reliability(
        saifi=saifi,
        saidi=saidi,
        caidi=saidi / saifi if saifi > 0 else None,
        asai=(demanded - customer_minutes) / demanded,
        maifi=sum(i.customers for i in momentary) / customers_served,
        customers_served=customers_served,
    )


def daily_saidi(
    interruptions: Iterable[Interruption], customers_served: int, day_offset_s: float = 0.0
) -> dict[int, float]:
    """SAIDI per day (day index = floor((start - offset) / 86400)); sustained only, each
    interruption accrued to the day it began."""
    days: dict[int, float] = {}
    for i in interruptions:
        if i.sustained:
            d = math.floor((i.start - day_offset_s) / DAY)
            days[d] = days.get(d, 0.0) + i.customers * i.minutes / customers_served
    return days


def t_med(daily: Sequence[float]) -> float | None:
    """``exp(alpha + 2.5 beta)`` over the positive daily SAIDI values (None: < 2 such days)."""
    logs = [math.log(v) for v in daily if v > 0]
    if len(logs) < 2:
        return None
    alpha = sum(logs) / len(logs)
    beta = math.sqrt(sum((x - alpha) ** 2 for x in logs) / (len(logs) - 1))
    return math.exp(alpha + 2.5 * beta)


def major_event_days(daily: dict[int, float], threshold: float) -> list[int]:
    """Days whose SAIDI exceeds ``threshold``."""
    return sorted(d for d, v in daily.items() if v > threshold)


def excluding_major_event_days(
    interruptions: Iterable[Interruption], med_days: Iterable[int], day_offset_s: float = 0.0
) -> list[Interruption]:
    """Interruptions that began outside the given Major Event Days (IEEE 1366 reports the
    indices with and without MEDs)."""
    skip = set(med_days)
    return [i for i in interruptions if math.floor((i.start - day_offset_s) / DAY) not in skip]
