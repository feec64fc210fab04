from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from connectors.cli import connectors_group
from pipeline.core.timeutil import format_rfc3339
from pipeline.core.validation import parse_observation
from tests.support.stack import free_port

from .conftest import FIXTURES
from .test_config import DEMO

CONFIG = """\
version: 1
operators:
  - id: mbta
    token_sha256: {token}
    services:
      - {{id: transport.mbta.rail, sector: transport, region: US-MA, expected_interval_s: 30}}
    feeds:
      - id: vehicles
        type: gtfs_rt
        path: vehicles.pb
        service: transport.mbta.rail
      - id: broken
        type: gtfs_rt
        path: broken.pb
        service: transport.mbta.rail
"""


def _deployment(tmp_path: Path) -> Path:
    shutil.copy(FIXTURES / "mbta_vehiclepositions.pb", tmp_path / "vehicles.pb")
    (tmp_path / "broken.pb").write_bytes((FIXTURES / "mbta_vehiclepositions.pb").read_bytes()[:99])
    path = tmp_path / "deploy.yaml"
    path.write_text(CONFIG.format(token="0" * 64))
    return path


def test_validate_ok_and_errors() -> None:
    runner = CliRunner()
    ok = runner.invoke(connectors_group, ["validate", str(DEMO)])
    assert ok.exit_code == 0, ok.output
    assert "OK (4 operators" in ok.output


def test_validate_prints_located_errors(tmp_path: Path) -> None:
    path = _deployment(tmp_path)
    text = path.read_text().replace("sector: transport", "sector: trains")
    path.write_text(text)
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "trains" in ln)
    column = text.splitlines()[line - 1].index("trains") + 1
    result = CliRunner().invoke(connectors_group, ["validate", str(path)])
    assert result.exit_code == 1
    assert f"{path}:{line}:{column}:" in result.stderr
    assert "operators[0].services[0].sector: 'trains' is not one of" in result.stderr


def test_dry_run_prints_wire_observations_and_reports_rejects(tmp_path: Path) -> None:
    path = _deployment(tmp_path)
    now = format_rfc3339(1_513_622_764 + 20)  # 20 s after the sample's header time
    result = CliRunner().invoke(connectors_group, ["run", str(path), "--dry-run", "--now", now])
    assert result.exit_code == 1  # the truncated feed was rejected
    lines = result.stdout.splitlines()
    observations = [parse_observation(line.encode(), now=None) for line in lines]
    assert {o.kind.value for o in observations} == {"heartbeat", "kpi"}
    assert {o.source for o in observations} == {"vehicles"}
    assert "broken: rejected malformed_protobuf" in result.stderr
    assert "vehicles: 2 observations, 0 rejected" in result.stderr


def test_dry_run_of_one_feed_succeeds(tmp_path: Path) -> None:
    path = _deployment(tmp_path)
    now = format_rfc3339(1_513_622_764 + 20)
    args = ["run", str(path), "--dry-run", "--now", now, "--feed", "vehicles"]
    result = CliRunner().invoke(connectors_group, args)
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 2


def test_run_refuses_unknown_feed_and_bad_time(tmp_path: Path) -> None:
    path = _deployment(tmp_path)
    unknown = CliRunner().invoke(connectors_group, ["run", str(path), "--dry-run", "--feed", "x"])
    assert unknown.exit_code == 2
    assert "no such feed: x" in unknown.stderr
    bad = CliRunner().invoke(connectors_group, ["run", str(path), "--dry-run", "--now", "noon"])
    assert bad.exit_code == 2
    assert "--now" in bad.stderr


def test_run_says_kafka_is_unreachable_and_spools(tmp_path: Path) -> None:
    """No broker at the configured address: the connector says so, keeps going, spools."""
    path = _deployment(tmp_path)
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there
    spool = tmp_path / "spool"
    env = {**os.environ, "CW_KAFKA_BOOTSTRAP": dead, "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "-m", "pipeline.cli", "connectors", "run", str(path),
            "--feed", "vehicles", "--spool-dir", str(spool)]  # fmt: skip
    with subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stderr is not None
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("spooling to" in ln for ln in lines):
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    said = "".join(lines)
    assert f"Kafka at {dead} is unreachable" in said
    assert f"Kafka at {dead} did not acknowledge; spooling to {spool}" in said
    assert (spool / "spool.jsonl").stat().st_size > 0
