"""CLI argument errors name the option and say what to do (no server or InfluxDB needed)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from pipeline.cli.main import main


def test_serve_status_names_the_bad_field_of_the_publish_config(tmp_path: Path) -> None:
    bad = tmp_path / "publish.yaml"
    bad.write_text("version: 1\nverifiers:\n  - {id: v, token_sha256: not-hex}\n")
    result = CliRunner().invoke(main, ["serve-status", "--publish-config", str(bad)])
    assert result.exit_code == 2
    assert "verifiers[0].token_sha256: must be 64 lower-case hex digits" in result.output


def test_report_refuses_a_period_that_ends_before_it_starts(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    result = CliRunner().invoke(
        main, ["report", "--from", "2026-05-02", "--to", "2026-05-01", "--out", str(out)]
    )
    assert result.exit_code == 2
    assert "--to" in result.output
    assert "must be after --from" in result.output
    assert not out.exists()


def test_report_needs_an_operator_for_the_operator_audience(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["report", "--from", "2026-05-01", "--to", "2026-05-02", "--audience", "operator",
         "--out", str(tmp_path / "r.html")],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "--operator" in result.output


def test_report_explains_a_bad_date(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["report", "--from", "May 1st", "--to", "2026-05-02", "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 2
    assert "is not a date (2026-05-01)" in result.output
