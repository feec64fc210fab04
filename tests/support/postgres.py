"""A real, throwaway PostgreSQL server for tests: ``initdb`` into a temp dir, ``postgres`` on
127.0.0.1 at a free port, password (SCRAM) authentication, removed afterwards.

The binaries come from ``PATH`` or Debian's ``/usr/lib/postgresql/<version>/bin`` (package
``postgresql``, installed by deploy/local/install-system.sh). PostgreSQL refuses to run as
root, so under root the server runs as the ``postgres`` user the Debian package creates.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.stack import free_port

if TYPE_CHECKING:
    import pg8000.native

    from pipeline.transparency.log import TransparencyLog
    from pipeline.transparency.redaction import RedactionPolicy
    from pipeline.transparency.storage import LedgerStorage

USER = "cw_ledger"
PASSWORD = "test-only-password"


def binary(name: str) -> str:
    """Path of a PostgreSQL server binary (newest Debian version if not on PATH)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=_version)
    if not candidates:
        raise RuntimeError(
            f"PostgreSQL's {name} is not installed (apt-get install postgresql; "
            "deploy/local/install-system.sh does it)"
        )
    return candidates[-1]


def _version(path: str) -> float:
    try:
        return float(Path(path).parts[-3])
    except ValueError:
        return 0.0


@dataclass
class PostgresServer:
    """One ``postgres`` process over its own data directory."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="cw-pg-")))
    port: int = field(default_factory=free_port)
    #: Server settings; fsync off by default: tests need no durability against power loss.
    options: tuple[str, ...] = ("fsync=off", "shared_buffers=32MB", "max_connections=40")
    proc: subprocess.Popen[bytes] | None = None

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def password_file(self) -> Path:
        return self.root / "password"

    @property
    def log_path(self) -> Path:
        return self.root / "postgres.log"

    def url(self, schema: str | None = None) -> str:
        """The store URL (no password: that is in :attr:`password_file`)."""
        query = f"?schema={schema}" if schema else ""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/postgres{query}"

    def init(self) -> PostgresServer:
        uid, gid = _owner()
        self.password_file.write_text(PASSWORD + "\n")
        pwfile = self.root / "initdb-password"
        pwfile.write_text(PASSWORD + "\n")
        if uid is not None and gid is not None:
            for path in (self.root, pwfile):
                os.chown(path, uid, gid)
        subprocess.run(
            [
                binary("initdb"), "-D", str(self.data_dir), "-U", USER, "-E", "UTF8",
                "--no-sync", "--auth-local=trust", "--auth-host=scram-sha-256",
                f"--pwfile={pwfile}", "--no-instructions",
            ],
            check=True, capture_output=True, user=uid, group=gid,
        )  # fmt: skip
        pwfile.unlink()
        return self

    def start(self) -> PostgresServer:
        uid, gid = _owner()
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    binary("postgres"), "-D", str(self.data_dir), "-p", str(self.port),
                    "-h", "127.0.0.1", "-k", str(self.root),
                    *(arg for option in self.options for arg in ("-c", option)),
                ],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                user=uid, group=gid,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while not self._accepting():
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited {self.proc.returncode}: {self._log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"postgres did not start in 60 s: {self._log_tail()}")
            time.sleep(0.1)
        return self

    def connect(self) -> pg8000.native.Connection:
        """A client connection as the test user (for what the store API does not do)."""
        import pg8000.native

        return pg8000.native.Connection(
            USER, host="127.0.0.1", port=self.port, database="postgres", password=PASSWORD,
            timeout=10,
        )  # fmt: skip

    def _accepting(self) -> bool:
        # The port opens before recovery ends; a real login is the only proof it is ready.
        import pg8000.native

        try:
            self.connect().close()
        except (OSError, pg8000.native.InterfaceError, pg8000.native.DatabaseError):
            return False
        return True

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def stop(self, *, immediate: bool = False) -> None:
        """Stop the server: a fast shutdown, or ``immediate`` (no checkpoint, like a crash)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGQUIT if immediate else signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def restart(self, *, immediate: bool = True) -> None:
        """Stop and start again on the same port and data (WAL recovery after ``immediate``)."""
        self.stop(immediate=immediate)
        _wait_port_free(self.port)
        self.start()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def _owner() -> tuple[int | None, int | None]:
    """Run the server as ``postgres`` under root (it refuses root), else as ourselves."""
    if os.geteuid() != 0:
        return None, None
    entry = pwd.getpwnam("postgres")
    return entry.pw_uid, entry.pw_gid


def _wait_port_free(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                time.sleep(0.1)
                continue
            return


@dataclass
class LedgerBackend:
    """One empty log on one backend, for the store contract tests run over every backend."""

    name: str
    data_dir: Path
    server: PostgresServer | None = None
    schema: str = field(default_factory=lambda: f"t_{uuid.uuid4().hex[:12]}")
    opened: list[TransparencyLog] = field(default_factory=list)

    @property
    def spec(self) -> str:
        """The ``CW_LEDGER_STORE`` value of this log."""
        return str(self.data_dir) if self.server is None else self.server.url(self.schema)

    @property
    def env(self) -> dict[str, str]:
        """The environment a ledger command needs to open it (the password file)."""
        if self.server is None:
            return {}
        return {"CW_LEDGER_STORE_PASSWORD_FILE": str(self.server.password_file)}

    def storage(self) -> LedgerStorage:
        from pipeline.transparency.storage import open_storage

        return open_storage(self.spec, None, self.env)

    def open(self, policy: RedactionPolicy, *, writer: bool = False) -> TransparencyLog:
        """Open the log (closed at teardown if the test does not)."""
        log = self.storage().open_log(policy, writer=writer)
        self.opened.append(log)
        return log

    def close_all(self) -> None:
        for log in self.opened:
            log.close()

    def log_contents(self) -> bytes:
        """Everything stored in the log itself (not its openings), as bytes to search."""
        if self.server is None:
            return (self.data_dir / "log.db").read_bytes()
        conn = self.server.connect()
        try:
            tables = ("entries", "nodes", "heads", "cosignatures", "refusals", "meta", "offsets")
            rows = [conn.run(f"SELECT * FROM {self.schema}.{table}") for table in tables]
        finally:
            conn.close()
        return b"".join(
            value if isinstance(value, bytes) else str(value).encode()
            for table_rows in rows
            for row in table_rows
            for value in row
        )


_SHARED: list[PostgresServer] = []
_USERS = [0]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the session (each test uses its own schema in it).

    Conftests that import this fixture each get their own session-scoped copy; they share one
    server (started by the first, removed by the last) so a run initialises only one cluster.
    """
    if not _SHARED:
        _SHARED.append(PostgresServer().init().start())
    _USERS[0] += 1
    try:
        yield _SHARED[0]
    finally:
        _USERS[0] -= 1
        if not _USERS[0]:
            _SHARED.pop().remove()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def ledger_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LedgerBackend]:
    """An empty log on each backend in turn (PostgreSQL: a fresh schema of a real server)."""
    server: PostgresServer | None = None
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres_server")
    backend = LedgerBackend(request.param, tmp_path / "ledger", server)
    yield backend
    backend.close_all()
