"""``continuity replay``: recorded observations through the worker's wiring, transitions out."""

from __future__ import annotations

from pathlib import Path

import orjson
from click.testing import CliRunner

from pipeline.cli.replay import replay_cmd
from pipeline.core.timeutil import format_rfc3339
from pipeline.incidents.maintenance import MaintenanceCalendar
from pipeline.monitoring.monitor import MonitorParams
from pipeline.monitoring.status import SilencePolicy
from pipeline.scenarios.generator import ScenarioConfig, generate
from pipeline.scenarios.worker_replay import WorkerReplay

CFG = ScenarioConfig(seed=6, duration_s=5 * 3600.0, regions=("UA-30",), outage_gap_mean_s=3600.0)


def test_replay_emits_what_the_worker_wiring_decides(tmp_path: Path) -> None:
    sc = generate(CFG)
    lines = []
    for arrival, obs in zip(sc.arrivals, sc.observations, strict=True):
        data = orjson.loads(obs.to_json())
        data["arrival_time"] = format_rfc3339(arrival)
        lines.append(orjson.dumps(data))
    path = tmp_path / "obs.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    result = CliRunner().invoke(replay_cmd, ["--input", str(path), "--default-interval", "30"])
    assert result.exit_code == 0, result.stderr
    out = [orjson.loads(line) for line in result.stdout.splitlines()]
    incidents = [o for o in out if o["type"] == "incident"]
    assert {o["type"] for o in out} == {"status", "incident"}
    # the same wiring in-process gives the same transitions
    expected: list[tuple[str, str]] = []
    runner = WorkerReplay(
        MaintenanceCalendar(),
        heartbeat_interval_s=30.0,
        params=MonitorParams(silence=SilencePolicy(default_interval=30.0)),
        on_result=lambda r: expected.extend(
            (e.kind, e.incident.incident_id) for e in r.incident_events
        ),
    )
    for arrival, obs in zip(sc.arrivals, sc.observations, strict=True):
        runner.process(obs, arrival)
    runner.advance(runner.watermark)
    assert [(o["event"], o["incident"]["incident_id"]) for o in incidents] == expected
    assert any(o["event"] == "detected" for o in incidents)


def test_bad_lines_are_reported_and_declarations_apply(tmp_path: Path) -> None:
    hb = {
        "schema": 1, "event_id": "e1", "operator_id": "op", "service_id": "svc",
        "sector": "health", "region": "UA-30", "kind": "heartbeat",
        "observed_at": "2026-01-01T00:00:00Z", "source": "feed",
    }  # fmt: skip
    later = {**hb, "event_id": "e2", "observed_at": "2026-01-01T00:03:20Z"}
    text = "\n".join([orjson.dumps(hb).decode(), "{not json", orjson.dumps(later).decode()])
    decl = tmp_path / "services.json"
    decl.write_text('[{"service_id": "svc", "expected_interval_s": 30}]')
    result = CliRunner().invoke(replay_cmd, ["--services", str(decl)], input=text + "\n")
    assert result.exit_code == 1
    assert "line 2:" in result.stderr
    statuses = [orjson.loads(x) for x in result.stdout.splitlines() if '"status"' in x]
    # 200 s of silence: down with the declared 30 s (4 x 30 s), only unknown with 60 s
    assert [s["status"] for s in statuses] == ["up", "down", "up"]
    undeclared = CliRunner().invoke(replay_cmd, [], input=text + "\n")
    assert [orjson.loads(x)["status"] for x in undeclared.stdout.splitlines()] == [
        "up", "unknown", "up"
    ]  # fmt: skip
    bad = tmp_path / "bad.json"
    bad.write_text('[{"expected_interval_s": 30}]')
    result = CliRunner().invoke(replay_cmd, ["--services", str(bad)], input="")
    assert result.exit_code == 2
    assert "needs a 'service_id'" in result.output
