"""The windowed KPI benchmark: scoring rules, and the detector against the z-score baseline."""

from __future__ import annotations

import numpy as np
import orjson
from click.testing import CliRunner

from pipeline.cli.kpi_bench import kpi_bench_cmd
from pipeline.detection.kpi_bench import A_FN, A_FP, Series, nab_score, scaled_sigmoid


def test_windowed_scoring_rewards_early_detection_and_penalises_the_rest() -> None:
    n = 1000
    series = Series(np.arange(n, dtype=float), np.zeros(n), (500,))  # window 500..600
    hits = np.zeros(n, dtype=bool)
    assert nab_score(hits, series) == (A_FN, scaled_sigmoid(-1.0), 0)
    early, late = hits.copy(), hits.copy()
    early[[500, 510]] = True  # a second detection in the window counts for nothing
    late[590] = True
    assert nab_score(early, series)[0] > nab_score(late, series)[0] > 0.0
    noisy = early.copy()
    noisy[[300, 700]] = True
    noisy[[10]] = True  # in the probation period: ignored
    raw, _, false_alarms = nab_score(noisy, series)
    assert false_alarms == 2
    assert raw == nab_score(early, series)[0] + 2 * A_FP


def test_the_detector_beats_the_rolling_z_score_and_never_alarms_on_clean_periods() -> None:
    result = CliRunner().invoke(kpi_bench_cmd, ["--seed", "1", "--json"])
    assert result.exit_code == 0, result.output
    data = orjson.loads(result.stdout)
    assert data["ours_normalised"] > data["baseline_normalised"] + 20.0
    for name in ("noise_free_sine", "noise_free_square", "noise"):
        assert data["ours"][name][2] == 0, name  # false alarms
    assert data["points_per_second"] > 0
