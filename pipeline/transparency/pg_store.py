"""The log on PostgreSQL (pg8000, pure Python): the same contract as the SQLite store.

One log is one schema (``ledger`` unless the URL says ``?schema=``): the tables of the SQLite
store with ``BIGINT`` indexes and ``BYTEA`` hashes, created on first use under a
transaction-scoped advisory lock (so two processes starting at once do not race) and
versioned in ``schema_version``. Triggers refuse ``UPDATE``, ``DELETE`` and ``TRUNCATE`` on
``entries``, ``nodes`` and ``heads``: the log is append-only even to a client that tries. The
openings of redacted fields live in their own schema (``<schema>_openings``), so the log
schema can be dumped, replicated or granted to readers without them.

A writer's connection holds ``pg_try_advisory_lock`` for the log (session-scoped: released
when the connection ends, even by ``kill -9``); a second writer gets :class:`WriterLocked`.
A connection lost between transactions (a server restart) is reopened and a writer takes its
lock again first (:mod:`pipeline.transparency.pg_session`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson
import pg8000.native

from pipeline.transparency.heads import Cosignature, Refusal, TreeHead
from pipeline.transparency.pg_session import (
    LOCK_SPACE,
    PostgresTarget,
    Session,
    WriterLocked,
    migrate,
)
from pipeline.transparency.redaction import Opening
from pipeline.transparency.store import EntryRow, Offsets

_TABLES = (
    "CREATE TABLE {s}.entries (idx BIGINT PRIMARY KEY, entry_key TEXT NOT NULL UNIQUE, "
    "kind TEXT NOT NULL, leaf BYTEA NOT NULL)",
    "CREATE TABLE {s}.nodes (level SMALLINT NOT NULL, idx BIGINT NOT NULL, hash BYTEA NOT NULL, "
    "PRIMARY KEY (level, idx))",
    "CREATE TABLE {s}.heads (tree_size BIGINT NOT NULL, timestamp_ms BIGINT NOT NULL, "
    "root BYTEA NOT NULL, key_id TEXT NOT NULL, signature BYTEA NOT NULL, "
    "PRIMARY KEY (tree_size, timestamp_ms))",
    "CREATE TABLE {s}.cosignatures (tree_size BIGINT NOT NULL, timestamp_ms BIGINT NOT NULL, "
    "root BYTEA NOT NULL, witness_key BYTEA NOT NULL, signature BYTEA NOT NULL, "
    "PRIMARY KEY (tree_size, timestamp_ms, witness_key))",
    "CREATE TABLE {s}.refusals (witness_key BYTEA NOT NULL, signature BYTEA NOT NULL, "
    "received_ms BIGINT NOT NULL, body BYTEA NOT NULL, PRIMARY KEY (witness_key, signature))",
    "CREATE TABLE {s}.meta (name TEXT PRIMARY KEY, value BYTEA NOT NULL)",
    "CREATE TABLE {s}.offsets (topic TEXT NOT NULL, part INTEGER NOT NULL, "
    "next_offset BIGINT NOT NULL, PRIMARY KEY (topic, part))",
    "CREATE FUNCTION {s}.refuse_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "RAISE EXCEPTION 'the transparency log is append-only: % on %.% refused', "
    "TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege'; END $$",
    *(
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {{s}}.{table} "
        f"FOR EACH ROW EXECUTE FUNCTION {{s}}.refuse_rewrite()"
        for table in ("entries", "nodes", "heads")
    ),
    *(
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {{s}}.{table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {{s}}.refuse_rewrite()"
        for table in ("entries", "nodes", "heads")
    ),
)
_OPENINGS = (
    "CREATE TABLE {s}.openings (entry_key TEXT NOT NULL, path TEXT NOT NULL, "
    "salt BYTEA NOT NULL, value BYTEA NOT NULL, PRIMARY KEY (entry_key, path))",
)


class PostgresLogStore:
    """A :class:`~pipeline.transparency.store.LogStore` in one PostgreSQL schema."""

    def __init__(self, target: PostgresTarget, *, writer: bool = False) -> None:
        self.target = target
        self.writer = writer
        self._s = target.schema
        self._db = Session(target, self._take_writer_lock if writer else lambda conn: None)
        try:
            migrate(self._db, self._s, _TABLES)
        except BaseException:
            self._db.close()
            raise

    def _take_writer_lock(self, conn: pg8000.native.Connection) -> None:
        rows = conn.run(
            "SELECT pg_try_advisory_lock(:space, :key)",
            space=LOCK_SPACE,
            key=self.target.lock_key(),
        )
        if not rows[0][0]:
            raise WriterLocked(
                f"another writer is running on {self.target.describe()}; "
                "a log has exactly one writer"
            )

    def close(self) -> None:
        """Close the connection (a writer's lock goes with it)."""
        self._db.close()

    def size(self) -> int:
        value = self._db.run(f"SELECT MAX(idx) FROM {self._s}.entries")[0][0]
        return 0 if value is None else int(value) + 1

    def known_keys(self, keys: Iterable[str]) -> set[str]:
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return set()
        rows = self._db.run(
            f"SELECT entry_key FROM {self._s}.entries WHERE entry_key IN "
            "(SELECT jsonb_array_elements_text(CAST(:k AS JSONB)))",
            k=_json(wanted),
        )
        return {str(r[0]) for r in rows}

    def append(
        self, rows: Sequence[EntryRow], nodes: Sequence[tuple[int, int, bytes]], offsets: Offsets
    ) -> None:
        """Entries, their subtree hashes and the offsets consumed: one transaction."""
        s = self._s
        with self._db.transaction():
            if rows:
                self._db.run(
                    f"INSERT INTO {s}.entries (idx, entry_key, kind, leaf) "
                    "SELECT i, k, t, decode(l, 'hex') "
                    "FROM jsonb_to_recordset(CAST(:rows AS JSONB)) "
                    "AS x (i BIGINT, k TEXT, t TEXT, l TEXT)",
                    rows=_json(
                        [{"i": r.index, "k": r.key, "t": r.kind, "l": r.leaf.hex()} for r in rows]
                    ),
                )
            if nodes:
                self._db.run(
                    f"INSERT INTO {s}.nodes (level, idx, hash) "
                    "SELECT v, i, decode(h, 'hex') "
                    "FROM jsonb_to_recordset(CAST(:rows AS JSONB)) "
                    "AS x (v SMALLINT, i BIGINT, h TEXT)",
                    rows=_json([{"v": v, "i": i, "h": h.hex()} for v, i, h in nodes]),
                )
            if offsets:
                self._db.run(
                    f"INSERT INTO {s}.offsets (topic, part, next_offset) SELECT * FROM unnest("
                    "CAST(:t AS TEXT[]), CAST(:p AS INTEGER[]), CAST(:o AS BIGINT[])) "
                    "ON CONFLICT (topic, part) DO UPDATE SET next_offset = excluded.next_offset",
                    t=[t for t, _ in offsets],
                    p=[p for _, p in offsets],
                    o=list(offsets.values()),
                )

    def node(self, level: int, index: int) -> bytes:
        rows = self._db.run(
            f"SELECT hash FROM {self._s}.nodes WHERE level = :l AND idx = :i", l=level, i=index
        )
        if not rows:
            raise LookupError(f"no complete subtree at level {level}, index {index}")
        return bytes(rows[0][0])

    def nodes(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """Several subtree hashes in one round trip (a proof's O(log n) nodes)."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        rows = self._db.run(
            f"SELECT n.level, n.idx, n.hash FROM {self._s}.nodes n JOIN unnest("
            "CAST(:l AS SMALLINT[]), CAST(:i AS BIGINT[])) AS k (level, idx) "
            "ON n.level = k.level AND n.idx = k.idx",
            l=[level for level, _ in wanted],
            i=[index for _, index in wanted],
        )
        found = {(int(level), int(index)): bytes(h) for level, index, h in rows}
        missing = [key for key in wanted if key not in found]
        if missing:
            level, index = missing[0]
            raise LookupError(f"no complete subtree at level {level}, index {index}")
        return found

    def entries(self, start: int, end: int) -> list[EntryRow]:
        rows = self._db.run(
            f"SELECT idx, entry_key, kind, leaf FROM {self._s}.entries "
            "WHERE idx >= :a AND idx < :b ORDER BY idx",
            a=start,
            b=end,
        )
        return [EntryRow(int(i), str(k), str(kind), bytes(leaf)) for i, k, kind, leaf in rows]

    def index_of(self, key: str) -> int | None:
        rows = self._db.run(f"SELECT idx FROM {self._s}.entries WHERE entry_key = :k", k=key)
        return int(rows[0][0]) if rows else None

    def offsets(self) -> dict[tuple[str, int], int]:
        rows = self._db.run(f"SELECT topic, part, next_offset FROM {self._s}.offsets")
        return {(str(t), int(p)): int(o) for t, p, o in rows}

    def add_head(self, head: TreeHead) -> None:
        self._db.run(
            f"INSERT INTO {self._s}.heads VALUES (:n, :t, :r, :k, :g) ON CONFLICT DO NOTHING",
            n=head.tree_size,
            t=head.timestamp_ms,
            r=head.root,
            k=head.key_id,
            g=head.signature,
        )

    def latest_head(self) -> TreeHead | None:
        rows = self._db.run(
            f"SELECT * FROM {self._s}.heads ORDER BY tree_size DESC, timestamp_ms DESC LIMIT 1"
        )
        return _head(rows[0]) if rows else None

    def heads(self, min_size: int, max_size: int) -> list[TreeHead]:
        rows = self._db.run(
            f"SELECT * FROM {self._s}.heads WHERE tree_size >= :a AND tree_size <= :b "
            "ORDER BY tree_size, timestamp_ms",
            a=min_size,
            b=max_size,
        )
        return [_head(r) for r in rows]

    def latest_cosigned_head(self, min_size: int) -> TreeHead | None:
        """The newest head of at least ``min_size`` entries that a witness co-signed."""
        rows = self._db.run(
            f"SELECT h.* FROM {self._s}.heads h JOIN {self._s}.cosignatures c "
            "ON c.tree_size = h.tree_size AND c.timestamp_ms = h.timestamp_ms "
            "WHERE h.tree_size >= :n ORDER BY h.tree_size DESC, h.timestamp_ms DESC LIMIT 1",
            n=min_size,
        )
        return _head(rows[0]) if rows else None

    def add_cosignature(self, cosig: Cosignature) -> bool:
        """Store a co-signature of a stored head; False if no such head is stored."""
        rows = self._db.run(
            f"INSERT INTO {self._s}.cosignatures SELECT h.tree_size, h.timestamp_ms, h.root, "
            f":w, :g FROM {self._s}.heads h WHERE h.tree_size = :n AND h.timestamp_ms = :t "
            "AND h.root = :r ON CONFLICT (tree_size, timestamp_ms, witness_key) "
            "DO UPDATE SET signature = excluded.signature RETURNING 1",
            w=cosig.witness_key,
            g=cosig.signature,
            n=cosig.tree_size,
            t=cosig.timestamp_ms,
            r=cosig.root,
        )
        return bool(rows)

    def cosignatures(self, tree_size: int, timestamp_ms: int) -> list[Cosignature]:
        rows = self._db.run(
            "SELECT tree_size, timestamp_ms, root, witness_key, signature "
            f"FROM {self._s}.cosignatures WHERE tree_size = :n AND timestamp_ms = :t "
            "ORDER BY witness_key",
            n=tree_size,
            t=timestamp_ms,
        )
        return [Cosignature(int(s), int(t), bytes(r), bytes(w), bytes(g)) for s, t, r, w, g in rows]

    def witness_sizes(self) -> dict[bytes, int]:
        """The largest tree size each witness (raw public key) co-signed."""
        rows = self._db.run(
            f"SELECT witness_key, MAX(tree_size) FROM {self._s}.cosignatures GROUP BY witness_key"
        )
        return {bytes(w): int(n) for w, n in rows}

    def add_refusal(self, refusal: Refusal, received_ms: int) -> None:
        """Keep a witness's (already checked) refusal; the same refusal twice is kept once."""
        self._db.run(
            f"INSERT INTO {self._s}.refusals VALUES (:w, :g, :t, :b) ON CONFLICT DO NOTHING",
            w=refusal.witness_key,
            g=refusal.signature,
            t=received_ms,
            b=orjson.dumps(refusal.to_dict()),
        )

    def refusals(self) -> list[tuple[int, Refusal]]:
        """Every stored refusal with the time it was received (ms), oldest first."""
        rows = self._db.run(f"SELECT received_ms, body FROM {self._s}.refusals ORDER BY 1")
        return [(int(at), Refusal.from_dict(orjson.loads(bytes(body)))) for at, body in rows]

    def get_meta(self, name: str) -> bytes | None:
        """A stored setting of the log (its public key)."""
        rows = self._db.run(f"SELECT value FROM {self._s}.meta WHERE name = :n", n=name)
        return bytes(rows[0][0]) if rows else None

    def set_meta(self, name: str, value: bytes) -> None:
        """Store a setting of the log."""
        self._db.run(
            f"INSERT INTO {self._s}.meta VALUES (:n, :v) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            n=name,
            v=value,
        )

    def storage_bytes(self) -> int:
        """Bytes on disk of the log's tables with their indexes and TOAST."""
        rows = self._db.run(
            "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :s "
            "AND c.relkind = 'r'",
            s=self._s,
        )
        return int(rows[0][0])


def _json(value: Any) -> str:
    """A batch as one JSON text parameter: the driver escapes array elements one character at
    a time in Python, which cost more than the whole append; JSON text goes through as is."""
    return orjson.dumps(value).decode()


def _head(row: Sequence[Any]) -> TreeHead:
    size, ts, root, kid, sig = row
    return TreeHead(int(size), int(ts), bytes(root), str(kid), bytes(sig))


class PostgresOpeningStore:
    """Salts and values of committed fields, in the schema ``<log schema>_openings``."""

    def __init__(self, target: PostgresTarget) -> None:
        self._s = f"{target.schema}_openings"
        self._db = Session(target, lambda conn: None)
        try:
            migrate(self._db, self._s, _OPENINGS)
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def put(self, items: Mapping[str, Sequence[Opening]]) -> None:
        """Store (replace) the openings of entries; written before the log commits them."""
        rows = [(key, o) for key, openings in items.items() for o in openings]
        if not rows:
            return
        self._db.run(
            f"INSERT INTO {self._s}.openings SELECT k, p, decode(s, 'hex'), decode(v, 'hex') "
            "FROM jsonb_to_recordset(CAST(:rows AS JSONB)) AS x (k TEXT, p TEXT, s TEXT, v TEXT) "
            "ON CONFLICT (entry_key, path) DO UPDATE SET salt = excluded.salt, "
            "value = excluded.value",
            rows=_json(
                [
                    {"k": key, "p": o.path, "s": o.salt.hex(), "v": orjson.dumps(o.value).hex()}
                    for key, o in rows
                ]
            ),
        )

    def get(self, key: str) -> list[Opening]:
        """The openings of one entry, by path."""
        rows = self._db.run(
            f"SELECT path, salt, value FROM {self._s}.openings WHERE entry_key = :k ORDER BY path",
            k=key,
        )
        return [Opening(str(p), bytes(s), orjson.loads(bytes(v))) for p, s, v in rows]

    def storage_bytes(self) -> int:
        """Bytes on disk of the openings table with its index and TOAST."""
        rows = self._db.run(
            "SELECT pg_total_relation_size(to_regclass(:t))", t=f"{self._s}.openings"
        )
        return int(rows[0][0] or 0)
