"""Headless Chromium (Debian ``chromium``) driven from the command line: DOM and screenshot."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from pipeline.ops.localstack import REPO

ARTIFACTS = REPO / "test-artifacts"


def chromium() -> str:
    """The browser binary; the test fails with the install step when it is missing."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise AssertionError("chromium is not installed: run deploy/local/install-system.sh")
    return found


def _run(args: list[str], profile: Path, timeout: float) -> subprocess.CompletedProcess[bytes]:
    argv = [
        chromium(),
        "--headless",
        "--no-sandbox",  # tests run as root
        "--disable-gpu",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(argv, capture_output=True, timeout=timeout, check=True)


def dump_dom(url: str, profile: Path, timeout: float = 60.0) -> str:
    """The page's DOM after load, as the browser built it."""
    return _run(["--dump-dom", url], profile, timeout).stdout.decode()


def screenshot(
    url: str, out: Path, profile: Path, *, size: str = "1280,2200", timeout: float = 60.0
) -> Path:
    """A PNG of the page at ``size`` (width,height)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    _run([f"--screenshot={out}", f"--window-size={size}", url], profile, timeout)
    if not out.exists() or out.stat().st_size == 0:
        raise AssertionError(f"chromium wrote no screenshot to {out}")
    return out
