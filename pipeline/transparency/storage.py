"""Where a log lives, from one setting: the single factory every ledger command opens it by.

``CW_LEDGER_STORE`` (or ``--store``) is either a directory, ``sqlite:///DIR`` (the embedded
default: ``DIR/log.db`` and ``DIR/openings.db``), or ``postgresql://USER@HOST:PORT/DATABASE``
with optional ``?schema=NAME`` (default ``ledger``) and ``?sslmode=require|verify-full``. The
password is never part of the URL (URLs end up in logs and process lists): it is read from the
file named by ``CW_LEDGER_STORE_PASSWORD_FILE``.

>>> describe = lambda spec: open_storage(spec, None, {}).describe()
>>> describe("/var/lib/cw-ledger"), describe("sqlite:///var/lib/cw-ledger")
('sqlite:///var/lib/cw-ledger', 'sqlite:///var/lib/cw-ledger')
>>> describe("postgresql://cw@db.internal/records?schema=ledger_ua")
'postgresql://cw@db.internal:5432/records?schema=ledger_ua'
>>> describe("postgresql://cw:hunter2@db/records")
Traceback (most recent call last):
...
pipeline.transparency.storage.StorageError: CW_LEDGER_STORE: put the password in the file \
named by CW_LEDGER_STORE_PASSWORD_FILE, not in the URL (URLs end up in logs)
"""

from __future__ import annotations

import fcntl
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from pipeline.transparency.log import TransparencyLog
from pipeline.transparency.redaction import RedactionPolicy

if TYPE_CHECKING:
    from pipeline.transparency.pg_session import PostgresTarget

STORE_VARIABLE = "CW_LEDGER_STORE"
PASSWORD_VARIABLE = "CW_LEDGER_STORE_PASSWORD_FILE"
DEFAULT_DATA_DIR = Path(".state/ledger")


class StorageError(ValueError):
    """A store setting that cannot be used; the message names the setting."""


class LedgerStorage(Protocol):
    """A log's location: opens it (as reader or as its one writer) and reports its size."""

    def describe(self) -> str: ...
    def exists(self) -> bool: ...
    def open_log(self, policy: RedactionPolicy, *, writer: bool = False) -> TransparencyLog: ...
    def storage_bytes(self, log: TransparencyLog) -> tuple[int, int]: ...


def writer_lock(data_dir: Path) -> IO[bytes]:
    """Hold ``data_dir/writer.lock`` until closed: one writer per SQLite log.

    The lock goes with the process (even on ``kill -9``), so a restart never finds it stale.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    handle = (data_dir / "writer.lock").open("ab")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise ValueError(
            f"another writer is running on {data_dir}; a log has exactly one writer"
        ) from None
    return handle


@dataclass(frozen=True, slots=True)
class SqliteStorage:
    """``DIR/log.db`` and ``DIR/openings.db``; the writer holds ``DIR/writer.lock``."""

    data_dir: Path

    def describe(self) -> str:
        path = str(self.data_dir)
        return f"sqlite://{path}" if self.data_dir.is_absolute() else path

    def exists(self) -> bool:
        return (self.data_dir / "log.db").exists()

    def open_log(self, policy: RedactionPolicy, *, writer: bool = False) -> TransparencyLog:
        from pipeline.transparency.store import SqliteLogStore, SqliteOpeningStore

        lock = writer_lock(self.data_dir) if writer else None
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return TransparencyLog(
            SqliteLogStore(str(self.data_dir / "log.db"), lock),
            SqliteOpeningStore(str(self.data_dir / "openings.db")),
            policy,
        )

    def storage_bytes(self, log: TransparencyLog) -> tuple[int, int]:
        """Bytes of the log files and of the openings files (WAL included)."""

        def size(pattern: str) -> int:
            return sum(p.stat().st_size for p in self.data_dir.glob(pattern))

        return size("log.db*"), size("openings.db*")


@dataclass(frozen=True, slots=True)
class PostgresStorage:
    """A schema of a PostgreSQL database (and ``<schema>_openings`` beside it)."""

    target: PostgresTarget

    def describe(self) -> str:
        return self.target.describe()

    def exists(self) -> bool:
        from pipeline.transparency.pg_session import log_exists

        return log_exists(self.target)

    def open_log(self, policy: RedactionPolicy, *, writer: bool = False) -> TransparencyLog:
        from pipeline.transparency.pg_store import PostgresLogStore, PostgresOpeningStore

        store = PostgresLogStore(self.target, writer=writer)
        try:
            openings = PostgresOpeningStore(self.target)
        except BaseException:
            store.close()
            raise
        return TransparencyLog(store, openings, policy)

    def storage_bytes(self, log: TransparencyLog) -> tuple[int, int]:
        """On-disk bytes of the log's tables and of the openings table (indexes included)."""
        from pipeline.transparency.pg_store import PostgresLogStore, PostgresOpeningStore

        assert isinstance(log.store, PostgresLogStore)
        assert isinstance(log.openings, PostgresOpeningStore)
        return log.store.storage_bytes(), log.openings.storage_bytes()


def open_storage(spec: str | None, data_dir: Path | None, env: Mapping[str, str]) -> LedgerStorage:
    """The storage named by ``spec`` (``--store`` / CW_LEDGER_STORE) or ``data_dir``."""
    if spec and data_dir is not None:
        raise StorageError(
            f"give --data-dir or --store ({STORE_VARIABLE}), not both: they name the same thing"
        )
    if not spec:
        return SqliteStorage(data_dir or DEFAULT_DATA_DIR)
    if spec.startswith(("postgresql://", "postgres://")):
        return PostgresStorage(_postgres_target(spec, env))
    if spec.startswith("sqlite://"):
        path = spec.removeprefix("sqlite://")
        if not path.startswith("/"):
            raise StorageError(f"{STORE_VARIABLE}: write sqlite:///DIR (three slashes), not {spec}")
        return SqliteStorage(Path(path))
    if "://" in spec:
        raise StorageError(
            f"{STORE_VARIABLE}: {spec.split('://')[0]}:// is not a supported store; "
            "give a directory, sqlite:///DIR or postgresql://USER@HOST:PORT/DATABASE"
        )
    return SqliteStorage(Path(spec))


def _postgres_target(spec: str, env: Mapping[str, str]) -> PostgresTarget:
    from pipeline.transparency.pg_session import PostgresTarget

    url = urlsplit(spec)
    if url.password is not None:
        raise StorageError(
            f"{STORE_VARIABLE}: put the password in the file named by {PASSWORD_VARIABLE}, "
            "not in the URL (URLs end up in logs)"
        )
    if not url.username or not url.hostname:
        raise StorageError(f"{STORE_VARIABLE}: the URL needs a user and a host: {spec}")
    database = unquote(url.path.lstrip("/"))
    if not database:
        raise StorageError(f"{STORE_VARIABLE}: the URL needs a database name after the port")
    query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
    unknown = set(query) - {"schema", "sslmode"}
    if unknown:
        raise StorageError(
            f"{STORE_VARIABLE}: unknown URL parameter(s) {sorted(unknown)} (use schema, sslmode)"
        )
    try:
        port = url.port or 5432
        return PostgresTarget(
            user=unquote(url.username),
            host=url.hostname,
            port=port,
            database=database,
            schema=query.get("schema", "ledger"),
            password=_password(env),
            ssl_context=_ssl(query.get("sslmode", "disable")),
        )
    except ValueError as exc:
        raise StorageError(f"{STORE_VARIABLE}: {exc}") from None


def _password(env: Mapping[str, str]) -> str | None:
    path = env.get(PASSWORD_VARIABLE)
    if not path:
        return None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise StorageError(f"{PASSWORD_VARIABLE}: cannot read {path}: {reason}") from None
    password = text.rstrip("\r\n")
    if not password:
        raise StorageError(f"{PASSWORD_VARIABLE}: {path} is empty")
    return password


def _ssl(mode: str) -> ssl.SSLContext | None:
    if mode == "disable":
        return None
    if mode == "verify-full":
        return ssl.create_default_context()
    if mode == "require":  # encrypted, server not authenticated (as libpq's require)
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    raise ValueError(f"sslmode={mode}: use disable, require or verify-full")


def storage_from_env(spec: str | None, data_dir: Path | None) -> LedgerStorage:
    """:func:`open_storage` with this process's environment."""
    return open_storage(spec, data_dir, os.environ)
