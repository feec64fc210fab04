"""Fixtures for the ledger's integration tests: a signing key and server processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pipeline.config.settings import Settings
from pipeline.transparency.keys import generate_private_key, write_private_key
from tests.support.ledger import LedgerServer


@pytest.fixture
def log_key_file(tmp_path: Path) -> Path:
    path = tmp_path / "log-key.pem"
    write_private_key(path, generate_private_key())
    return path


@pytest.fixture
def ledger_server(
    settings: Settings, tmp_path: Path, log_key_file: Path
) -> Iterator[Callable[..., LedgerServer]]:
    """Start ``continuity ledger serve`` processes over one data dir; all stopped at teardown."""
    started: list[LedgerServer] = []

    def start(
        data_dir: Path | None = None, key_file: Path | None = None, **overrides: object
    ) -> LedgerServer:
        server = LedgerServer(
            settings,
            data_dir or tmp_path / "ledger",
            key_file or log_key_file,
            tmp_path / f"ledger-{len(started)}.log",
            **overrides,  # type: ignore[arg-type]
        )
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()
