"""IEEE 1366 indices against a worked example computed by hand."""

from __future__ import annotations

import math

import pytest

from pipeline.incidents.model import Incident, ServiceRef
from pipeline.indicators.ieee1366 import (
    Interruption,
    daily_saidi,
    excluding_major_event_days,
    interruptions_from_incidents,
    major_event_days,
    reliability,
    t_med,
)

DAY = 86_400.0


def test_worked_example_one_day_2000_customers() -> None:
    # A feeder system serving N_T = 2000 customers, observed for one day (T = 1440 min).
    #
    #   id  customers  minutes  class       customer-minutes
    #   A      400       90     sustained        36 000
    #   B      150       30     sustained         4 500
    #   C     1000        3     momentary            -
    #   D       50        5.0   momentary (not > 5)  -
    #   E      200        5.5   sustained         1 100
    #
    # SAIFI = (400 + 150 + 200) / 2000           = 750 / 2000    = 0.375 interruptions
    # SAIDI = (36 000 + 4 500 + 1 100) / 2000     = 41 600 / 2000 = 20.8 min
    # CAIDI = SAIDI / SAIFI = 41 600 / 750                        = 55.466... min
    # MAIFI = (1000 + 50) / 2000                                  = 0.525
    # ASAI  = (2000 x 1440 - 41 600) / (2000 x 1440) = 2 838 400 / 2 880 000 = 0.985555...
    ints = [
        Interruption(0.0, 400, 90.0),
        Interruption(0.0, 150, 30.0),
        Interruption(0.0, 1000, 3.0),
        Interruption(0.0, 50, 5.0),
        Interruption(0.0, 200, 5.5),
    ]
    r = reliability(ints, customers_served=2000, period_minutes=1440.0)
    assert r.saifi == pytest.approx(0.375)
    assert r.saidi == pytest.approx(20.8)
    assert r.caidi == pytest.approx(55.4666667)
    assert r.maifi == pytest.approx(0.525)
    assert r.asai == pytest.approx(2_838_400 / 2_880_000)


def test_caidi_is_undefined_without_sustained_interruptions() -> None:
    r = reliability([Interruption(0.0, 10, 1.0)], 100, 60.0)
    assert (r.saifi, r.saidi, r.caidi, r.asai) == (0.0, 0.0, None, 1.0)
    with pytest.raises(ValueError, match="positive"):
        reliability([], 0, 60.0)


def test_t_med_from_log_daily_saidi_ignores_zero_days() -> None:
    # ln(daily SAIDI) of the non-zero days = 0, 1, 2, 3 (the zero day is left out):
    # alpha = 1.5, beta = sqrt(((1.5^2 + 0.5^2) * 2) / (4 - 1)) = sqrt(5/3) = 1.29099...
    # T_MED = exp(1.5 + 2.5 * 1.29099) = exp(4.72749) = 113.02...
    history = [1.0, math.e, math.e**2, 0.0, math.e**3]
    threshold = t_med(history)
    assert threshold is not None
    assert threshold == pytest.approx(math.exp(1.5 + 2.5 * math.sqrt(5 / 3)))
    assert threshold == pytest.approx(113.02, abs=0.01)
    assert major_event_days({0: 5.0, 1: 150.0, 2: 113.0}, threshold) == [1]
    assert t_med([0.0, 4.0]) is None  # one usable day: no spread to estimate


def test_daily_saidi_accrues_to_the_day_the_interruption_began() -> None:
    # 100 customers for 120 min starting 23:00 on day 0 -> all 12 000 customer-min on day 0;
    # 10 customers for 4 min on day 1 is momentary -> nothing.
    days = daily_saidi(
        [Interruption(DAY - 3600.0, 100, 120.0), Interruption(DAY + 60.0, 10, 4.0)], 1000
    )
    assert days == {0: 12.0}


def test_interruptions_from_incidents_cut_to_the_window() -> None:
    feeder = ServiceRef("f1", "dso", "energy", "UA-30", customers_served=800)
    incs = [
        Incident("f1/a", feeder, started_at=-600.0, detected_at=0.0, restored_at=1200.0),
        Incident("f1/b", feeder, 2000.0, 2010.0, restored_at=2600.0, customers_affected=300),
        Incident("f1/m", feeder, 3000.0, 3010.0, restored_at=3600.0, maintenance=True),
    ]
    ints = interruptions_from_incidents(incs, 0.0, 3600.0)
    assert ints == [Interruption(0.0, 800, 20.0), Interruption(2000.0, 300, 10.0)]


def test_indices_without_major_event_days() -> None:
    # 1000 customers. Day 0: 100 customers x 60 min; day 1 (a storm): 900 x 600 min.
    # history of daily SAIDI = {0: 6, 1: 540}; with a quiet history of 2-6 min days added
    # the storm day is far above T_MED and is excluded.
    storm = [Interruption(0.0, 100, 60.0), Interruption(DAY + 10.0, 900, 600.0)]
    history = [2.0, 3.0, 4.0, 5.0, 6.0, 3.0, 2.5, 4.5]
    days = daily_saidi(storm, 1000)
    assert days == {0: 6.0, 1: 540.0}
    threshold = t_med([*history, *days.values()])
    assert threshold is not None
    meds = major_event_days(days, threshold)
    assert meds == [1]
    normal = excluding_major_event_days(storm, meds)
    assert normal == [storm[0]]
    # without the MED: SAIDI = 100 x 60 / 1000 = 6 min over the two days
    assert reliability(normal, 1000, 2 * 1440.0).saidi == 6.0
