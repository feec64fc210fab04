"""A labelled KPI benchmark: synthetic archetypes scored with windowed (NAB-style) scoring.

Archetypes (14 days of 5-minute points, a daily wave plus Gaussian noise unless stated, one
or more labelled anomalies each): ``spikes``, ``level_shift``, ``variance_change``,
``trend_change``, ``broken_seasonality`` (the daily wave shifted by 6 h for a day),
``stuck`` (the value frozen for 6 h), ``dropout`` (zero for 2 h), and anomaly-free
``noise_free_sine``, ``noise_free_square`` and ``noise`` (false alarms only).

Scoring follows the Numenta Anomaly Benchmark's standard profile: each labelled anomaly gets
a window of 10 % of the series length divided by the number of anomalies, starting at the
anomaly; the first detection in a window scores ``A_TP x s(y)`` with
``s(y) = 2 / (1 + exp(5 y)) - 1`` and ``y`` the detection's position in the window from -1
(its start) to 0 (its end), so early detection is rewarded; a window with no detection
scores ``A_FN = -1``; every detection outside a window scores ``A_FP = -0.11``; the first
15 % of a series is a probation period where nothing counts. Per detector the total is
normalised to 100 for a perfect detector and 0 for one that never alarms.

The baseline is a 100-point rolling z-score (``|x - mean| / std`` of the previous 100
points), each point above its threshold a detection, at the best of several thresholds.

>>> series = archetypes(seed=1)
>>> sorted(series)[:3]
['broken_seasonality', 'dropout', 'level_shift']
>>> round(scaled_sigmoid(-1.0), 4), scaled_sigmoid(0.0)
(0.9866, 0.0)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pipeline.detection.kpi import ALARM_SCORE, KpiAnomalyDetector

Array = npt.NDArray[np.float64]
STEP = 300.0
DAYS = 14
A_TP, A_FP, A_FN = 1.0, -0.11, -1.0
PROBATION = 0.15
BASELINE_THRESHOLDS = (3.0, 4.0, 5.0, 6.0, 8.0, 10.0)


@dataclass(frozen=True, slots=True)
class Series:
    """One labelled series: times, values and the indices where anomalies start."""

    t: Array
    v: Array
    anomalies: tuple[int, ...]


def scaled_sigmoid(y: float) -> float:
    """NAB's weight of a detection at relative window position ``y``."""
    return 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


def archetypes(seed: int = 1) -> dict[str, Series]:
    """The labelled archetypes (deterministic from ``seed``)."""
    rng = np.random.default_rng(seed)
    n = int(DAYS * 86_400 / STEP)
    t = np.asarray(1_767_225_600.0 + np.arange(n) * STEP)
    day = 2 * np.pi * t / 86_400.0
    base = 100.0 + 30.0 * np.sin(day)

    def noisy() -> Array:
        return np.asarray(base + rng.normal(0.0, 2.0, n))

    def at(frac: float) -> int:
        return int(n * frac + rng.integers(0, 100))

    out: dict[str, Series] = {}
    v = noisy()
    idx = tuple(sorted(at(f) for f in (0.3, 0.55, 0.8)))
    for i in idx:
        v[i] += 20.0  # 10 sigma
    out["spikes"] = Series(t, v, idx)
    v, i = noisy(), at(0.5)
    v[i:] += 15.0
    out["level_shift"] = Series(t, v, (i,))
    v, i = noisy(), at(0.5)
    v[i : i + 288] = base[i : i + 288] + rng.normal(0.0, 10.0, 288)
    out["variance_change"] = Series(t, v, (i,))
    v, i = noisy(), at(0.5)
    v[i:] += np.arange(n - i) * (30.0 / 288)  # +30 over a day
    out["trend_change"] = Series(t, v, (i,))
    v, i = noisy(), at(0.5)
    v[i : i + 288] = 100.0 + 30.0 * np.sin(day[i : i + 288] + np.pi / 2) + rng.normal(0, 2, 288)
    out["broken_seasonality"] = Series(t, v, (i,))
    v, i = noisy(), at(0.5)
    v[i : i + 72] = v[i]
    out["stuck"] = Series(t, v, (i,))
    v, i = noisy(), at(0.5)
    v[i : i + 24] = 0.0
    out["dropout"] = Series(t, v, (i,))
    out["noise_free_sine"] = Series(t, np.asarray(base), ())
    out["noise_free_square"] = Series(t, np.where(np.sin(day) > 0, 150.0, 50.0), ())
    out["noise"] = Series(t, np.asarray(100.0 + rng.normal(0.0, 2.0, n)), ())
    return out


def rolling_z(v: Array, window: int = 100) -> Array:
    """``|x - mean| / std`` of the previous ``window`` points (0 until there are enough)."""
    out = np.zeros(len(v))
    c1 = np.concatenate([[0.0], np.cumsum(v)])
    c2 = np.concatenate([[0.0], np.cumsum(v * v)])
    for i in range(window, len(v)):
        mean = (c1[i] - c1[i - window]) / window
        var = max((c2[i] - c2[i - window]) / window - mean * mean, 1e-12)
        out[i] = abs(v[i] - mean) / math.sqrt(var)
    return out


def nab_score(detections: npt.NDArray[np.bool_], series: Series) -> tuple[float, float, int]:
    """(raw score, perfect score, false-alarm count) of boolean ``detections``."""
    n = len(series.v)
    start = int(n * PROBATION)
    width = max(1, int(0.1 * n / max(1, len(series.anomalies))))
    windows = [(a, min(n, a + width)) for a in series.anomalies]
    raw, false_alarms = 0.0, 0
    hit = [False] * len(windows)
    for i in np.flatnonzero(detections).tolist():
        if i < start:
            continue
        inside = next((k for k, (a, b) in enumerate(windows) if a <= i < b), None)
        if inside is None:
            raw += A_FP
            false_alarms += 1
        elif not hit[inside]:
            hit[inside] = True
            a, b = windows[inside]
            raw += A_TP * scaled_sigmoid(-1.0 + (i - a) / (b - a))
    raw += A_FN * hit.count(False)
    perfect = A_TP * scaled_sigmoid(-1.0) * len(windows)
    return raw, perfect, false_alarms


@dataclass(frozen=True, slots=True)
class BenchResult:
    """Per archetype: (raw, perfect, false alarms) of the detector and of the baseline."""

    ours: dict[str, tuple[float, float, int]]
    baseline: dict[str, tuple[float, float, int]]
    baseline_threshold: float
    points_per_second: float

    @staticmethod
    def normalised(scores: dict[str, tuple[float, float, int]]) -> float:
        """100 x (raw - null) / (perfect - null), null = never alarm (every window missed)."""
        raw = sum(s[0] for s in scores.values())
        perfect = sum(s[1] for s in scores.values())
        null = A_FN * sum(round(s[1] / scaled_sigmoid(-1.0)) for s in scores.values())
        return 100.0 * (raw - null) / (perfect - null) if perfect != null else 0.0


def run(
    seeds: tuple[int, ...] = (1, 2, 3), progress: Callable[[str], None] | None = None
) -> BenchResult:
    """Score the detector and the baseline on every archetype of every seed."""
    ours: dict[str, tuple[float, float, int]] = {}
    per_threshold: dict[float, dict[str, tuple[float, float, int]]] = {
        th: {} for th in BASELINE_THRESHOLDS
    }
    points, seconds = 0, 0.0
    for seed in seeds:
        for name, series in archetypes(seed).items():
            began = time.perf_counter()
            scores = KpiAnomalyDetector().score_many(series.t, series.v)
            seconds += time.perf_counter() - began
            points += len(series.v)
            _add(ours, name, nab_score(scores >= ALARM_SCORE, series))
            z = rolling_z(series.v)
            for th in BASELINE_THRESHOLDS:
                _add(per_threshold[th], name, nab_score(z > th, series))
        if progress is not None:
            progress(f"seed {seed} done")
    best = max(BASELINE_THRESHOLDS, key=lambda th: BenchResult.normalised(per_threshold[th]))
    return BenchResult(ours, per_threshold[best], best, points / seconds if seconds else 0.0)


def _add(
    into: dict[str, tuple[float, float, int]], name: str, score: tuple[float, float, int]
) -> None:
    raw, perfect, fa = into.get(name, (0.0, 0.0, 0))
    into[name] = (raw + score[0], perfect + score[1], fa + score[2])


def format_bench(result: BenchResult) -> str:
    """A table: per archetype the normalised score and false alarms of both detectors."""
    lines = [
        f"{'archetype':<20}{'ours':>8}{'FA':>5}{'z-score':>9}{'FA':>6}",
    ]
    for name in result.ours:
        o, b = result.ours[name], result.baseline[name]
        lines.append(f"{name:<20}{_norm(o):>8}{o[2]:>5}{_norm(b):>9}{b[2]:>6}")
    lines.append(
        f"{'total (NAB-normalised)':<20}{BenchResult.normalised(result.ours):>6.1f}"
        f"{'':>5}{BenchResult.normalised(result.baseline):>9.1f}"
        f"   (baseline at its best threshold z > {result.baseline_threshold:g})"
    )
    lines.append(f"detector throughput: {result.points_per_second:,.0f} points/s")
    return "\n".join(lines)


def _norm(score: tuple[float, float, int]) -> str:
    if score[1] == 0:
        return "-"
    return f"{BenchResult.normalised({'x': score}):.1f}"
