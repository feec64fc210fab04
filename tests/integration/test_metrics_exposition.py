"""The worker's /metrics passes promtool's checks."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable

import pytest

from pipeline.config.settings import Settings
from pipeline.core.schema import Status
from tests.support.observations import make_obs, wire
from tests.support.stack import WorkerProcess, eventually, produce

pytestmark = pytest.mark.integration


def test_worker_metrics_pass_promtool(
    settings: Settings, start_worker: Callable[..., WorkerProcess]
) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: run deploy/local/install-system.sh"
    worker = start_worker()
    obs = make_obs(f"{settings.app_id}.m", at=time.time(), status=Status.DEGRADED)
    produce(settings, [(b"m", obs.to_json()), (b"x", b"nonsense"), (b"y", wire(schema=3))])

    def populated() -> str | None:
        text = worker.metrics_text()
        ready = "continuity_service_status{" in text and "unsupported_schema" in text
        return text if ready else None

    text = eventually(populated, what="populated metrics")
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text.encode(), capture_output=True, check=False
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    names = {
        line.split("{")[0].split(" ")[0]
        for line in text.splitlines()
        if line.startswith("continuity")
    }
    assert all(name.startswith("continuity_") for name in names)
