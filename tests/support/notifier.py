"""A real ``continuity notify`` subprocess for tests (started, killed -9, restarted)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from pipeline.config.settings import Settings
from tests.support.stack import eventually, worker_env


@dataclass
class NotifierProcess:
    settings: Settings
    subscriptions: Path
    log_path: Path
    http_port: int
    app_id: str
    proc: subprocess.Popen[bytes] | None = None

    def start(self, *, timeout: float = 90.0) -> NotifierProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        mark = self.log_path.stat().st_size
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "pipeline.cli", "notify",
                "--subscriptions", str(self.subscriptions),
                "--app-id", self.app_id,
                "--http-port", str(self.http_port),
            ],
            env={**os.environ, **worker_env(self.settings)},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        log.close()
        eventually(lambda: self._ready_since(mark), timeout=timeout, what="notifier ready")
        return self

    def _ready_since(self, mark: int) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(
                f"notifier exited with {self.proc.returncode}: {self.log_path.read_text()[-3000:]}"
            )
        with self.log_path.open("rb") as log:
            log.seek(mark)
            return b"[^Worker]: Ready" in log.read()

    def get(self, path: str) -> bytes:
        url = f"http://127.0.0.1:{self.http_port}{path}"
        with urllib.request.urlopen(url, timeout=5) as response:
            body: bytes = response.read()
            return body

    def kill_hard(self) -> None:
        """``kill -9``: no shutdown hooks, no final flush, no offset commit."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
