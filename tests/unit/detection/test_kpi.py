"""KPI anomaly detector: range, equivalence, causality, seasonality, shifts, speed, state."""

from __future__ import annotations

import math
import time

import numpy as np
import numpy.typing as npt
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.detection.kpi import ALARM_SCORE, KpiAnomalyDetector, KpiParams

MINUTE = 60.0
WEEK = 7 * 86_400.0


def seasonal_series(
    n: int, seed: int = 0, noise: float = 2.0
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Minute data: daily wave, weekend dip, Gaussian noise."""
    rng = np.random.default_rng(seed)
    t = np.asarray(1_700_000_000.0 + np.arange(n) * MINUTE, dtype=np.float64)
    day = np.sin(2 * np.pi * (t % 86_400.0) / 86_400.0)
    weekday = ((t // 86_400.0 + 3) % 7).astype(int)
    weekend = np.where(weekday >= 5, -25.0, 0.0)
    values = 100.0 + 30.0 * day + weekend + rng.normal(0.0, noise, n)
    return t, np.asarray(values, dtype=np.float64)


def test_scores_are_in_unit_interval_and_quiet_on_normal_seasonal_data() -> None:
    t, v = seasonal_series(3 * 7 * 1440)
    s = KpiAnomalyDetector().score_many(t, v)
    assert s.min() >= 0.0
    assert s.max() <= 1.0
    # after two weeks of learning, the daily and weekly pattern is not anomalous
    learned = s[2 * 7 * 1440 :]
    # a week of noise raises nothing but (a known limit) one alarm at each end of the weekend
    # dip: the fast level absorbs the dip before the day-of-week profile learns it
    assert (learned >= ALARM_SCORE).sum() <= 2


def test_spikes_alarm_and_do_not_poison_the_model() -> None:
    t, v = seasonal_series(4 * 1440, seed=1)
    idx = np.arange(1500, 4 * 1440, 487)  # a 20-sigma spike every ~8 h
    v = v.copy()
    v[idx] += 40.0
    s = KpiAnomalyDetector().score_many(t, v)
    assert (s[idx] >= ALARM_SCORE).mean() > 0.9
    normal = np.ones(len(v), dtype=bool)
    normal[idx] = False
    normal[:1440] = False
    # at most the weekend step (a known limit, see the seasonal test) and one noise peak
    assert (s[normal] >= ALARM_SCORE).sum() <= 2


def test_level_shift_is_flagged_then_becomes_the_new_normal() -> None:
    t, v = seasonal_series(3 * 1440, seed=2)
    v = v.copy()
    v[2 * 1440 :] += 50.0
    s = KpiAnomalyDetector().score_many(t, v)
    assert s[2 * 1440] >= ALARM_SCORE
    assert (s[2 * 1440 + 1 :] >= ALARM_SCORE).sum() == 0  # one alarm for the episode


def test_batch_equals_point_by_point_and_state_round_trips() -> None:
    t, v = seasonal_series(2_000, seed=3)
    batch = KpiAnomalyDetector().score_many(t, v)
    det = KpiAnomalyDetector()
    single = []
    for i in range(len(t)):
        if i == 1_000:  # restart from the serialised state half way
            det = KpiAnomalyDetector.from_dict(orjson.loads(orjson.dumps(det.to_dict())))
        single.append(det.score(float(t[i]), float(v[i])))
    assert np.array_equal(batch, np.asarray(single))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=200),
    st.integers(0, 199),
)
def test_causal_a_score_never_depends_on_later_points(values: list[float], cut: int) -> None:
    t = [1_600_000_000.0 + 300.0 * i for i in range(len(values))]
    full = KpiAnomalyDetector(KpiParams(warmup=3)).score_many(t, values)
    cut = min(cut, len(values))
    prefix = KpiAnomalyDetector(KpiParams(warmup=3)).score_many(t[:cut], values[:cut])
    assert np.array_equal(full[:cut], prefix)
    assert all(0.0 <= x <= 1.0 for x in full)


def test_nan_points_score_zero_and_are_not_learned() -> None:
    det = KpiAnomalyDetector()
    t, v = seasonal_series(100, seed=4)
    det.score_many(t, v)
    before = det.to_dict()
    assert det.score(float(t[-1]) + 60.0, math.nan) == 0.0
    assert det.to_dict() == before


def _clock(days: int, step: float = 300.0) -> npt.NDArray[np.float64]:
    return np.asarray(1_767_225_600.0 + np.arange(int(days * 86_400 / step)) * step)


def test_noise_free_periodic_series_raise_no_alarm_after_two_days() -> None:
    t = _clock(14)
    day = 2 * np.pi * t / 86_400.0
    series = {
        "daily sine": 100.0 + 50.0 * np.sin(day),
        "daily square": np.where(np.sin(day) > 0, 150.0, 50.0),
        "2 h sine": 100.0 + 50.0 * np.sin(2 * np.pi * t / 7_000.0),
        "fast square": np.where((np.arange(len(t)) // 50) % 2 == 0, 10.0, 20.0),
        "sawtooth": (np.arange(len(t)) % 37).astype(float),
        "constant": np.full(len(t), 42.0),
    }
    for name, values in series.items():
        s = KpiAnomalyDetector().score_many(t, values)
        # two days of learning: about the 15 % probation of the windowed benchmark
        assert (s[2 * 288 :] >= ALARM_SCORE).sum() == 0, name


def test_a_constant_series_alarms_once_when_it_moves() -> None:
    t = _clock(2)
    v = np.full(len(t), 7.0)
    v[400:] = 7.5
    s = KpiAnomalyDetector().score_many(t, v)
    assert list(np.flatnonzero(s >= ALARM_SCORE)) == [400]


def test_gaussian_noise_stays_under_the_stated_false_alarm_rate() -> None:
    rng = np.random.default_rng(9)
    t = _clock(60, step=60.0)  # 86 400 points of pure noise
    s = KpiAnomalyDetector().score_many(t, 100.0 + rng.normal(0.0, 1.0, len(t)))
    assert (s >= ALARM_SCORE).sum() <= 5  # alarm_p = 1e-5 per point, one per episode


def test_throughput_at_least_50k_points_per_second() -> None:
    t, v = seasonal_series(200_000, seed=5)
    det = KpiAnomalyDetector()
    start = time.perf_counter()
    det.score_many(t, v)
    rate = len(t) / (time.perf_counter() - start)
    assert rate >= 50_000, f"{rate:.0f} points/s"
