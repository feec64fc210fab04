"""What was measured on what: git provenance and the machine."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any


def provenance(root: Path) -> dict[str, Any]:
    """Which code was measured: git HEAD, whether the worker's files differ from it, and a
    digest of those files (worker subprocesses import whatever is on disk when they start)."""
    import hashlib

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", *args], cwd=root, capture_output=True, timeout=10, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return done.stdout.decode(errors="replace").rstrip()

    digest = hashlib.sha256()
    files = sorted(
        [
            *root.glob("pipeline/worker/*.py"),
            *root.glob("pipeline/*.py"),
            *root.glob("pipeline/detection/*.py"),
            *root.glob("pipeline/incidents/*.py"),
        ]
    )
    for path in files:
        digest.update(path.read_bytes())
    return {
        "git_head": git("rev-parse", "HEAD"),
        "dirty": [line[3:] for line in git("status", "--porcelain", "pipeline").splitlines()],
        "pipeline_sha256": digest.hexdigest(),
    }


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    import platform

    mem = 0.0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem = int(line.split()[1]) * 1024.0
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_bytes": mem,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg": os.getloadavg(),
    }
