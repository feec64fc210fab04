"""Real ``continuity ledger serve`` / ``witness`` processes for integration tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.config.settings import Settings
from tests.support.stack import eventually, free_port


def ledger_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipeline.cli", "ledger", *args]


@dataclass
class LedgerServer:
    """One ``continuity ledger serve`` subprocess over ``data_dir``."""

    settings: Settings
    data_dir: Path
    key_file: Path
    log_path: Path
    port: int = field(default_factory=free_port)
    kafka: bool = True
    #: ``--store`` instead of ``--data-dir`` (e.g. a PostgreSQL URL), and what it needs in env.
    store: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LedgerServer:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        location = ("--store", self.store) if self.store else ("--data-dir", str(self.data_dir))
        argv = ledger_argv(
            "serve",
            *location,
            "--key-file", str(self.key_file),
            "--port", str(self.port),
            "--head-interval", "0.2",
            "--head-max-age", "2",
            "--kafka" if self.kafka else "--no-kafka",
        )  # fmt: skip
        env = {
            **os.environ,
            "CW_KAFKA_BOOTSTRAP": self.settings.kafka_bootstrap,
            "CW_TOPIC_PREFIX": self.settings.topics.prefix,
            "CW_LEDGER_DISCLOSURE_TOKEN": "test-disclosure-token",
            **self.env,
        }
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        eventually(self._up, timeout=60, what=f"ledger server (log: {self.log_path})")
        return self

    def _up(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"ledger exited {self.proc.returncode}; log: {self.log_path}")
        try:
            self.get("/ledger/v1/entries?start=0&end=0")
        except OSError:
            return False
        return True

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.url}{path}", timeout=10) as response:
            return json.load(response)

    def head(self) -> dict[str, Any] | None:
        try:
            body: dict[str, Any] = self.get("/ledger/v1/head")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise
        return body

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
