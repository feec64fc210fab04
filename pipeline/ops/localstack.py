"""The local stack from Python: wraps deploy/local/*.sh and manages background processes.

Servers (Kafka, Prometheus, InfluxDB) are started by the shell scripts; pipeline processes
(worker, simulator) are started here, each with a pid file and a log under the state folder,
and a worker registers its metrics port with Prometheus through a file_sd target file.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy" / "local"


def state_dir() -> Path:
    return Path(os.environ.get("CW_STATE", REPO / ".state"))


def stack(command: str) -> int:
    """Run ``deploy/local/stack.sh COMMAND``; returns its exit code."""
    return subprocess.call(["bash", str(DEPLOY / "stack.sh"), command])


def register_scrape_target(name: str, address: str, labels: dict[str, str] | None = None) -> Path:
    """Tell the local Prometheus to scrape ``address`` (host:port); atomic file replace."""
    targets = state_dir() / "prometheus" / "targets"
    targets.mkdir(parents=True, exist_ok=True)
    path = targets / f"{name}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(
        json.dumps([{"targets": [address], "labels": {"instance_name": name, **(labels or {})}}])
    )
    tmp.replace(path)
    return path


def unregister_scrape_target(name: str) -> None:
    (state_dir() / "prometheus" / "targets" / f"{name}.json").unlink(missing_ok=True)


def _pidfile(name: str) -> Path:
    return state_dir() / "procs" / f"{name}.pid"


def process_alive(name: str) -> bool:
    path = _pidfile(name)
    if not path.exists():
        return False
    try:
        os.kill(int(path.read_text()), 0)
    except (OSError, ValueError):
        return False
    return True


def demo_command_key() -> tuple[str, Path]:
    """The local demo's command key (made once, kept in the state folder, owner-only), so the
    demo worker, its ingest API and ``continuity incidents ack`` agree; returns (key, file)."""
    path = state_dir() / "demo" / "command.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_hex(32))
    return path.read_text().strip(), path


def start_background(name: str, argv: list[str], env: dict[str, str] | None = None) -> Path:
    """Start ``argv`` detached with its own log; no-op when already running. Returns the log."""
    folder = state_dir() / "procs"
    folder.mkdir(parents=True, exist_ok=True)
    logfile = folder / f"{name}.log"
    if process_alive(name):
        return logfile
    with logfile.open("ab") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    _pidfile(name).write_text(str(proc.pid))
    return logfile


def stop_background(name: str, *, timeout: float = 20.0) -> bool:
    """TERM then KILL the named process group; returns True if one was running."""
    path = _pidfile(name)
    if not process_alive(name):
        path.unlink(missing_ok=True)
        return False
    pid = int(path.read_text())
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            break
        time.sleep(0.2)
    else:
        os.killpg(pid, signal.SIGKILL)
    path.unlink(missing_ok=True)
    return True


def background_names() -> list[str]:
    folder = state_dir() / "procs"
    return sorted(p.stem for p in folder.glob("*.pid")) if folder.exists() else []


def python_argv(*args: str) -> list[str]:
    """argv that runs the ``continuity`` CLI with this interpreter."""
    return [sys.executable, "-m", "pipeline.cli", *args]
