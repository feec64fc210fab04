"""The analysis commands, through click's CliRunner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest
from click.testing import CliRunner

from pipeline.cli.analysis import COMMANDS, detect, evaluate_cmd, parse_timestamp, scenarios
from pipeline.detection.kpi import KpiAnomalyDetector

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "analysis"


def test_commands_are_exported() -> None:
    assert [c.name for c in COMMANDS] == ["detect", "scenarios", "evaluate"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1767225600", 1767225600.0),
        ("1767225600000", 1767225600.0),
        ("1767225600.5", 1767225600.5),
        ("2026-01-01T00:00:00Z", 1767225600.0),
        ("2026-01-01T02:00:00+02:00", 1767225600.0),
        ("2026-01-01 00:00:00", 1767225600.0),
        ('"2026-01-01T00:00:00.250Z"', 1767225600.25),
    ],
)
def test_timestamp_formats(text: str, expected: float) -> None:
    assert parse_timestamp(text) == expected


def test_detect_scores_every_row_in_order_and_matches_the_library() -> None:
    path = FIXTURES / "kpi_seasonal.csv"
    result = CliRunner().invoke(detect, ["--input", str(path), "--chunk", "100"])
    assert result.exit_code == 0, result.output
    scores = [float(x) for x in result.output.split()]
    rows = path.read_text().splitlines()[1:]
    assert len(scores) == len(rows)
    ts = [parse_timestamp(r.split(",")[0]) for r in rows]
    vs = [float(r.split(",")[1]) for r in rows]
    expected = KpiAnomalyDetector().score_many(ts, vs)
    assert np.allclose(scores, expected, atol=1e-6)
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert scores[700] > 0.99  # the injected spike
    assert max(scores[400:700] + scores[701:]) < 0.9


def test_detect_reads_stdin_without_header_and_mixed_formats() -> None:
    text = (FIXTURES / "mixed_timestamps.csv").read_text()
    result = CliRunner().invoke(detect, [], input=text)
    assert result.exit_code == 0, result.output
    assert len(result.output.split()) == 5


def test_detect_is_causal_a_prefix_gives_the_same_scores() -> None:
    lines = (FIXTURES / "kpi_seasonal.csv").read_text().splitlines()
    full = CliRunner().invoke(detect, [], input="\n".join(lines) + "\n").output.split()
    part = CliRunner().invoke(detect, [], input="\n".join(lines[:300]) + "\n").output.split()
    assert part == full[:299]


def test_detect_reports_the_line_of_a_bad_row() -> None:
    result = CliRunner().invoke(detect, [], input="timestamp,value\n1,2\nnot-a-time,3\n")
    assert result.exit_code != 0
    assert "line 3" in result.output


def test_scenarios_writes_observations_and_truth(tmp_path: Path) -> None:
    out = tmp_path / "obs.jsonl"
    result = CliRunner().invoke(scenarios, ["--seed", "4", "--out", str(out), "--hours", "2"])
    assert result.exit_code == 0, result.output
    first = orjson.loads(out.read_bytes().splitlines()[0])
    assert first["schema"] == 1
    assert first["observed_at"].endswith("Z")
    truth = orjson.loads((tmp_path / "obs.truth.json").read_bytes())
    assert truth["seed"] == 4
    assert {"incidents", "maintenance_windows", "services"} <= set(truth)


def test_evaluate_prints_figures_and_json() -> None:
    args = ["--seed", "3", "--hours", "6", "--regions", "UA-30"]
    text = CliRunner().invoke(evaluate_cmd, args)
    assert text.exit_code == 0, text.output
    assert "precision" in text.output
    assert "time to detect" in text.output
    as_json = CliRunner().invoke(evaluate_cmd, [*args, "--json"])
    data = orjson.loads(as_json.stdout)  # progress goes to stderr, figures to stdout
    assert data["seeds"] == [3]
    assert "[evaluate] replay: 1 scenario of 6 h" in as_json.stderr
    assert 0.0 <= data["precision"] <= 1.0
    assert 0.0 <= data["recall"] <= 1.0
    bad = CliRunner().invoke(evaluate_cmd, ["--regions", " , "])
    assert bad.exit_code != 0


def test_evaluate_with_the_worker_wiring_finds_the_outages() -> None:
    args = ["--seed", "3", "--hours", "6", "--regions", "UA-30", "--engine", "worker", "--json"]
    result = CliRunner().invoke(evaluate_cmd, args)
    assert result.exit_code == 0, result.output
    data = orjson.loads(result.stdout)
    assert data["truth_incidents"] > 0
    # A small scenario, but the worker's wiring must find its outages and nothing else.
    assert data["recall"] == 1.0
    assert data["precision"] == 1.0
