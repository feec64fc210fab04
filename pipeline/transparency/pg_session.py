"""PostgreSQL plumbing of the ledger's store: where a log lives, one connection that survives
a server restart, and the schema's creation and version.

A connection lost outside a transaction (a server restart, a failover) is reopened once and
its ``on_connect`` hook (a writer's lock) runs again before anything else; inside a transaction
the error is raised and the transaction is void, so nothing half-written is ever visible.
"""

from __future__ import annotations

import re
import ssl
import threading
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import pg8000.native

SCHEMA_VERSION = 1
#: First key of every advisory lock this module takes (ASCII "CWLG"), so they stand apart.
LOCK_SPACE = 0x43574C47
SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,40}")
PgError = (pg8000.native.InterfaceError, pg8000.native.DatabaseError)


class WriterLocked(ValueError):
    """Another connection already writes this log."""


class SchemaTooNew(ValueError):
    """The schema was written by a newer release than this one."""


@dataclass(frozen=True, slots=True)
class PostgresTarget:
    """Where a log lives. The password is never part of :meth:`describe` or ``repr``."""

    user: str
    host: str
    port: int
    database: str
    schema: str = "ledger"
    password: str | None = field(default=None, repr=False)
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not SCHEMA_NAME.fullmatch(self.schema):
            raise ValueError(
                f"schema {self.schema!r}: use lower-case letters, digits and '_' "
                "(at most 41, not starting with a digit)"
            )

    def describe(self) -> str:
        """The target as a URL without the password (fit for logs and errors)."""
        return (
            f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}?schema={self.schema}"
        )

    def lock_key(self, suffix: str = "") -> int:
        """A signed 32-bit advisory lock key for this log (and a purpose)."""
        crc = zlib.crc32(f"{self.database}/{self.schema}{suffix}".encode())
        return crc - (1 << 32) if crc >= 1 << 31 else crc

    def connect(self) -> pg8000.native.Connection:
        return pg8000.native.Connection(
            self.user,
            host=self.host,
            port=self.port,
            database=self.database,
            password=self.password,
            ssl_context=self.ssl_context,
            timeout=60,
            application_name="continuity-ledger",
        )


class Session:
    """One connection, reopened once after it was lost outside a transaction; thread-safe."""

    def __init__(
        self, target: PostgresTarget, on_connect: Callable[[pg8000.native.Connection], None]
    ) -> None:
        self.target = target
        self._on_connect = on_connect
        self._lock = threading.RLock()
        self._in_transaction = False
        self._conn: pg8000.native.Connection | None = None
        self._connect()

    def _connect(self) -> None:
        try:
            conn = self.target.connect()
        except PgError as exc:
            raise ConnectionError(f"cannot connect to {self.target.describe()}: {exc}") from None
        try:
            self._on_connect(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def run(self, sql: str, **params: Any) -> list[list[Any]]:
        with self._lock:
            if self._conn is None:
                self._connect()
            assert self._conn is not None
            try:
                rows: list[list[Any]] | None = self._conn.run(sql, **params)
            except pg8000.native.InterfaceError:
                self._drop()
                if self._in_transaction:
                    raise
                self._connect()  # the server restarted: once more on a new connection
                assert self._conn is not None
                rows = self._conn.run(sql, **params)
            return rows or []

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(*PgError):  # the connection is already gone; nothing to release
                conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            self.run("START TRANSACTION")
            self._in_transaction = True
            try:
                yield
                self.run("COMMIT")
            except BaseException:
                if self._conn is not None:
                    try:
                        self._conn.run("ROLLBACK")
                    except pg8000.native.InterfaceError:
                        self._drop()
                raise
            finally:
                self._in_transaction = False

    def close(self) -> None:
        with self._lock:
            self._drop()


def migrate(session: Session, schema: str, statements: Sequence[str]) -> None:
    """Create ``schema`` at :data:`SCHEMA_VERSION` unless it is there (one process at a time)."""
    with session.transaction():
        session.run(
            "SELECT pg_advisory_xact_lock(:space, :key)",
            space=LOCK_SPACE,
            key=session.target.lock_key("/migrate"),
        )
        session.run(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        session.run(f"CREATE TABLE IF NOT EXISTS {schema}.schema_version (version INTEGER)")
        rows = session.run(f"SELECT MAX(version) FROM {schema}.schema_version")
        version = rows[0][0] or 0
        if version > SCHEMA_VERSION:
            raise SchemaTooNew(
                f"schema {schema} is at version {version}, newer than this release "
                f"understands ({SCHEMA_VERSION}); upgrade continuity-watch"
            )
        if version < 1:
            for statement in statements:
                session.run(statement.format(s=schema))
            session.run(f"INSERT INTO {schema}.schema_version VALUES ({SCHEMA_VERSION})")


def log_exists(target: PostgresTarget) -> bool:
    """Whether ``target`` already holds a log (without creating one)."""
    session = Session(target, lambda conn: None)
    try:
        rows = session.run("SELECT to_regclass(:name) IS NOT NULL", name=f"{target.schema}.entries")
        return bool(rows[0][0])
    finally:
        session.close()
