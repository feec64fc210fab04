"""``continuity detect`` input handling (issue 14, class 8): a bad first row is not silently a
header, bad rows are reported with their line and do not abort, timestamps can be echoed."""

from __future__ import annotations

from click.testing import CliRunner

from pipeline.cli.analysis import detect

GOOD = [f"{1767225600 + 300 * i},{10.0 + (i % 3)}" for i in range(40)]


def run(lines: list[str], *args: str) -> tuple[int, list[str], str]:
    result = CliRunner().invoke(detect, list(args), input="\n".join(lines) + "\n")
    return result.exit_code, result.stdout.splitlines(), result.stderr


def test_a_header_is_skipped_only_when_it_looks_like_one() -> None:
    code, out, err = run(["timestamp,value", *GOOD])
    assert (code, len(out), err) == (0, 40, "")
    code, out, err = run(["yesterday,10.5", *GOOD])  # a bad first row, not a header
    assert code == 1
    assert len(out) == 41
    assert out[0] == "nan"
    assert "line 1: timestamp" in err


def test_bad_rows_are_reported_with_their_line_and_the_rest_is_scored() -> None:
    lines = ["timestamp,value", *GOOD[:10], "1767228600,", "1767228900,nan", GOOD[0], *GOOD[10:]]
    code, out, err = run(lines)
    assert code == 1
    assert len(out) == 43  # one line per data row, bad ones 'nan'
    assert out[10:13] == ["nan", "nan", "nan"]
    assert "line 12: empty value" in err
    assert "line 13: value is not a finite number" in err
    assert "line 14: timestamp goes back in time (line 11)" in err
    assert "3 bad row(s)" in err
    assert all(x != "nan" for x in out[13:])


def test_timestamps_are_echoed_on_request() -> None:
    code, out, _ = run(["timestamp,value", *GOOD[:3]], "--timestamps")
    assert code == 0
    assert [line.split(",")[0] for line in out] == [g.split(",")[0] for g in GOOD[:3]]
    assert all(0.0 <= float(line.split(",")[1]) <= 1.0 for line in out)
