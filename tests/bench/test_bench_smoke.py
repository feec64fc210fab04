"""A tiny end-to-end run of ``continuity bench`` so the machinery cannot rot.

It goes through the real Kafka and real worker processes, and checks that every stage
produced sane, positive figures. It never gates on speed: this machine is shared and noisy.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pipeline.config.settings import Settings

pytestmark = [pytest.mark.bench, pytest.mark.integration]

OBSERVATIONS = 2_000


def _run(argv: list[str], env: dict[str, str], timeout: float) -> tuple[int, str]:
    """Run the bench; if it hangs, make it dump every thread's stack (faulthandler on
    SIGABRT) so the failure says where it stood, not only that it took too long."""
    with subprocess.Popen(
        [sys.executable, "-X", "faulthandler", *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    ) as proc:
        try:
            _, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)
            _, stderr = proc.communicate(timeout=60)
            pytest.fail(f"bench run hung; its stderr ended with:\n{stderr.decode()[-8000:]}")
        return proc.returncode, stderr.decode(errors="replace")


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and value > 0


def test_tiny_benchmark_end_to_end(bench_stack: Settings, bench_output: Path) -> None:
    argv = [
        "-m", "pipeline.bench.cli", "run",
        "--observations", str(OBSERVATIONS),
        "--services", "200",
        "--latency-seconds", "3",
        # A low fixed rate: the smoke run checks the machinery, not how much load it takes.
        "--latency-rate", "20",
        "--state-sizes", "400",
        "--profile-observations", "1000",
        "--output", str(bench_output),
        # A hung stage fails with its own message long before the run's timeout, and a
        # faust commit stall (see pipeline.bench.completion) costs 20 s, not a hang.
        "--stage-timeout", "240",
        "--stall-after", "20",
    ]  # fmt: skip
    env = {**os.environ, "CW_KAFKA_BOOTSTRAP": bench_stack.kafka_bootstrap}
    returncode, stderr = _run(argv, env, timeout=900)
    assert returncode == 0, stderr[-4000:]

    result = json.loads(bench_output.read_text())
    summary = result["summary"]
    res = result["results"]
    for key in (
        "producer_obs_per_s",
        "ceiling_obs_per_s",
        "worker_obs_per_s",
        "worker_to_ceiling",
        "processor_obs_per_s",
        "two_workers_obs_per_s",
        "two_to_one_workers",
        "state_dict_bytes_per_service",
    ):
        assert _positive(summary[key]), (key, summary[key])

    # Correctness of the harness, not speed: everything produced was consumed, nothing rejected.
    assert res["ceiling"]["observations"] == OBSERVATIONS
    assert res["worker"]["processed"] >= OBSERVATIONS
    assert res["worker"]["rejected"] == 0
    assert res["processor"]["services"] <= 200

    latency = res["latency"]
    assert latency["evidence_to_status_s"]["count"] > 0
    assert latency["missing_status_changes"] == 0
    assert 0 < latency["evidence_to_status_s"]["p50"] <= latency["evidence_to_status_s"]["max"]
    assert latency["silence_delay_past_deadline_s"]["count"] > 0
    assert latency["evidence_to_incident_s"]["count"] > 0
    assert latency["missing_incidents"] == 0

    points = res["state"]["points"]
    assert points, "no state-size point"
    assert points[0]["complete"]
    assert _positive(points[0]["rss_bytes"])

    # Whether or not the second worker got work this small topic, no incident may be lost,
    # invented or emitted twice.
    rebalance = res["rebalance"]
    assert rebalance["reference_events"] > 0
    assert (rebalance["lost"], rebalance["spurious"], rebalance["duplicated"]) == (0, 0, 0)

    assert res["profile"]["by_own_time"], "the profile has no rows"
    assert result["finished_at"] >= result["started_at"]
