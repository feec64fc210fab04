"""The store contract tests run over SQLite and over a real PostgreSQL server."""

from tests.support.postgres import ledger_backend, postgres_server

__all__ = ["ledger_backend", "postgres_server"]
