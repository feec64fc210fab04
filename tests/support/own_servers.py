"""Extra servers a test may stop or kill: its own InfluxDB on free ports, never the shared one.

They run from the same cached binaries and scripts as the shared stack (deploy/local), with
their own state directory, so stopping them cannot touch anyone else's server.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pipeline.ops.localstack import DEPLOY
from tests.support.stack import free_port


@dataclass
class OwnInfluxDB:
    """An ``influxd`` with its own state under ``state`` on ``port``."""

    state: Path
    port: int
    #: ``[http] auth-enabled``: every request needs a user (the first one made is the admin).
    auth: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _script(self, action: str) -> None:
        env = {
            **os.environ,
            "CW_STATE": str(self.state),
            "CW_INFLUX_PORT": str(self.port),
            "CW_INFLUX_RPC_PORT": str(free_port()),
            "CW_INFLUX_AUTH_ENABLED": "true" if self.auth else "false",
        }
        subprocess.run(
            ["bash", str(DEPLOY / "influxdb.sh"), action],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def start(self) -> None:
        self._script("start")

    def stop(self) -> None:
        self._script("stop")


@contextmanager
def own_influxdb(state: Path, *, started: bool = True, auth: bool = False) -> Iterator[OwnInfluxDB]:
    """An InfluxDB of the test's own (started unless ``started=False``), stopped at exit."""
    server = OwnInfluxDB(state, free_port(), auth)
    if started:
        server.start()
    try:
        yield server
    finally:
        server.stop()
