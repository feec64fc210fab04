"""Fixtures for the ledger's integration tests: a signing key and server processes."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pipeline.config.settings import Settings
from pipeline.transparency.keys import (
    generate_private_key,
    load_private_key,
    public_key_pem,
    write_private_key,
)
from tests.support.ledger import LedgerServer, ledger_argv
from tests.support.stack import free_port


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


@pytest.fixture
def public_key_file(log_key_file: Path, tmp_path: Path) -> Path:
    key = load_private_key(str(log_key_file), {})
    path = tmp_path / "log-key.pub.pem"
    path.write_bytes(public_key_pem(key.public_key()))
    return path


@pytest.fixture
def witness(
    tmp_path: Path, public_key_file: Path
) -> Iterator[Callable[[str], tuple[subprocess.Popen[bytes], int, Path]]]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(url: str) -> tuple[subprocess.Popen[bytes], int, Path]:
        key = tmp_path / "witness-key.pem"
        write_private_key(key, generate_private_key())
        port, state = free_port(), tmp_path / "witness"
        argv = ledger_argv(
            "witness", "--log-url", url, "--log-key", str(public_key_file),
            "--key-file", str(key), "--state-dir", str(state), "--interval", "0.3",
            "--metrics-port", str(port),
        )  # fmt: skip
        with (tmp_path / "witness.log").open("ab") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        procs.append(proc)
        return proc, port, state

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=30)
