"""Durable log storage behind a small protocol; SQLite (stdlib, no server) is the default.

What is stored: every entry (index, idempotency key, kind, leaf bytes), every *complete aligned
subtree* hash (level ``l``, index ``i`` covers leaves ``[i*2**l, (i+1)*2**l)``; about 2n rows),
so any MTH the RFC 9162 proof recursion needs is O(log n) primary-key reads; signed tree
heads; witnesses' co-signatures; and the consumed Kafka offsets, written in the same
transaction as the entries they produced (exactly-once across a crash).

Openings of redacted fields (salt + value) live in a separate database
(:class:`SqliteOpeningStore`) so the log file can be published or replicated without them.
The PostgreSQL implementation of both protocols is :mod:`pipeline.transparency.pg_store`;
:mod:`pipeline.transparency.storage` picks one from ``CW_LEDGER_STORE``.

>>> store = SqliteLogStore(":memory:")
>>> store.append([EntryRow(0, "k", "indicator", b"{}")], [(0, 0, bytes(32))], {("t", 0): 5})
>>> store.size(), store.offsets(), store.index_of("k")
(1, {('t', 0): 5}, 0)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Protocol

import orjson

from pipeline.transparency.heads import Cosignature, Refusal, TreeHead
from pipeline.transparency.redaction import Opening

Offsets = Mapping[tuple[str, int], int]


@dataclass(frozen=True, slots=True)
class EntryRow:
    """One stored entry: its position, idempotency key, kind and leaf (canonical bytes)."""

    index: int
    key: str
    kind: str
    leaf: bytes


class LogStore(Protocol):
    """What the log needs from storage: SQLite here, PostgreSQL in ``pg_store``.

    Append-only (entries, nodes and heads are never changed), ``append`` all or nothing.
    """

    def close(self) -> None: ...
    def size(self) -> int: ...
    def known_keys(self, keys: Iterable[str]) -> set[str]: ...
    def append(
        self, rows: Sequence[EntryRow], nodes: Sequence[tuple[int, int, bytes]], offsets: Offsets
    ) -> None: ...
    def node(self, level: int, index: int) -> bytes: ...
    def nodes(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]: ...
    def entries(self, start: int, end: int) -> list[EntryRow]: ...
    def index_of(self, key: str) -> int | None: ...
    def offsets(self) -> dict[tuple[str, int], int]: ...
    def add_head(self, head: TreeHead) -> None: ...
    def latest_head(self) -> TreeHead | None: ...
    def heads(self, min_size: int, max_size: int) -> list[TreeHead]: ...
    def latest_cosigned_head(self, min_size: int) -> TreeHead | None: ...
    def add_cosignature(self, cosig: Cosignature) -> bool: ...
    def cosignatures(self, tree_size: int, timestamp_ms: int) -> list[Cosignature]: ...
    def witness_sizes(self) -> dict[bytes, int]: ...
    def add_refusal(self, refusal: Refusal, received_ms: int) -> None: ...
    def refusals(self) -> list[tuple[int, Refusal]]: ...
    def get_meta(self, name: str) -> bytes | None: ...
    def set_meta(self, name: str, value: bytes) -> None: ...


class OpeningStore(Protocol):
    """Where the salts and values of committed fields go (kept apart from the log)."""

    def close(self) -> None: ...
    def put(self, items: Mapping[str, Sequence[Opening]]) -> None: ...
    def get(self, key: str) -> list[Opening]: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    idx INTEGER PRIMARY KEY, entry_key TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,
    leaf BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS nodes (
    level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,
    PRIMARY KEY (level, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS heads (
    tree_size INTEGER NOT NULL, timestamp_ms INTEGER NOT NULL, root BLOB NOT NULL,
    key_id TEXT NOT NULL, signature BLOB NOT NULL, PRIMARY KEY (tree_size, timestamp_ms));
CREATE TABLE IF NOT EXISTS cosignatures (
    tree_size INTEGER NOT NULL, timestamp_ms INTEGER NOT NULL, root BLOB NOT NULL,
    witness_key BLOB NOT NULL, signature BLOB NOT NULL,
    PRIMARY KEY (tree_size, timestamp_ms, witness_key));
CREATE TABLE IF NOT EXISTS refusals (
    witness_key BLOB NOT NULL, signature BLOB NOT NULL, received_ms INTEGER NOT NULL,
    body BLOB NOT NULL, PRIMARY KEY (witness_key, signature));
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS offsets (
    topic TEXT NOT NULL, part INTEGER NOT NULL, next_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, part));
"""


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")  # a committed entry survives power loss
    conn.execute("PRAGMA cache_size=-65536")  # 64 MiB: the key indexes of 1 M entries stay hot
    return conn


class SqliteLogStore:
    """The embedded default: one SQLite file in WAL mode (readers never block the writer).

    ``writer_lock``: the held lock file of the one writer, released by :meth:`close`.
    """

    def __init__(self, path: str, writer_lock: IO[bytes] | None = None) -> None:
        self.path = path
        self._writer_lock = writer_lock
        self._db = _connect(path)
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the connection (and give up the writer's lock)."""
        self._db.close()
        if self._writer_lock is not None:
            self._writer_lock.close()

    def size(self) -> int:
        row = self._db.execute("SELECT MAX(idx) FROM entries").fetchone()
        return 0 if row[0] is None else int(row[0]) + 1

    def known_keys(self, keys: Iterable[str]) -> set[str]:
        wanted = list(dict.fromkeys(keys))
        found: set[str] = set()
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT entry_key FROM entries WHERE entry_key IN ({marks})"
            found.update(r[0] for r in self._db.execute(sql, chunk))
        return found

    def append(
        self, rows: Sequence[EntryRow], nodes: Sequence[tuple[int, int, bytes]], offsets: Offsets
    ) -> None:
        """Entries, their subtree hashes and the offsets consumed: all or nothing."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(
                "INSERT INTO entries (idx, entry_key, kind, leaf) VALUES (?, ?, ?, ?)",
                [(r.index, r.key, r.kind, r.leaf) for r in rows],
            )
            db.executemany("INSERT INTO nodes (level, idx, hash) VALUES (?, ?, ?)", nodes)
            db.executemany(
                "INSERT INTO offsets (topic, part, next_offset) VALUES (?, ?, ?) "
                "ON CONFLICT (topic, part) DO UPDATE SET next_offset = excluded.next_offset",
                [(t, p, o) for (t, p), o in offsets.items()],
            )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def node(self, level: int, index: int) -> bytes:
        return _read_node(self._db, level, index)

    def nodes(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """Several subtree hashes at once (one primary-key read each: in-process, cheap)."""
        return {key: _read_node(self._db, *key) for key in keys}

    def entries(self, start: int, end: int) -> list[EntryRow]:
        rows = self._db.execute(
            "SELECT idx, entry_key, kind, leaf FROM entries WHERE idx >= ? AND idx < ? "
            "ORDER BY idx",
            (start, end),
        )
        return [EntryRow(int(i), str(k), str(kind), bytes(leaf)) for i, k, kind, leaf in rows]

    def index_of(self, key: str) -> int | None:
        row = self._db.execute("SELECT idx FROM entries WHERE entry_key = ?", (key,)).fetchone()
        return None if row is None else int(row[0])

    def offsets(self) -> dict[tuple[str, int], int]:
        rows = self._db.execute("SELECT topic, part, next_offset FROM offsets")
        return {(str(t), int(p)): int(o) for t, p, o in rows}

    def add_head(self, head: TreeHead) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO heads VALUES (?, ?, ?, ?, ?)",
            (head.tree_size, head.timestamp_ms, head.root, head.key_id, head.signature),
        )

    def latest_head(self) -> TreeHead | None:
        row = self._db.execute(
            "SELECT * FROM heads ORDER BY tree_size DESC, timestamp_ms DESC LIMIT 1"
        ).fetchone()
        return None if row is None else _head(row)

    def heads(self, min_size: int, max_size: int) -> list[TreeHead]:
        rows = self._db.execute(
            "SELECT * FROM heads WHERE tree_size >= ? AND tree_size <= ? "
            "ORDER BY tree_size, timestamp_ms",
            (min_size, max_size),
        )
        return [_head(r) for r in rows]

    def latest_cosigned_head(self, min_size: int) -> TreeHead | None:
        """The newest head of at least ``min_size`` entries that a witness co-signed."""
        row = self._db.execute(
            "SELECT h.* FROM heads h JOIN cosignatures c ON c.tree_size = h.tree_size "
            "AND c.timestamp_ms = h.timestamp_ms WHERE h.tree_size >= ? "
            "ORDER BY h.tree_size DESC, h.timestamp_ms DESC LIMIT 1",
            (min_size,),
        ).fetchone()
        return None if row is None else _head(row)

    def add_cosignature(self, cosig: Cosignature) -> bool:
        """Store a co-signature of a stored head; False if no such head is stored."""
        head = self._db.execute(
            "SELECT root FROM heads WHERE tree_size = ? AND timestamp_ms = ?",
            (cosig.tree_size, cosig.timestamp_ms),
        ).fetchone()
        if head is None or bytes(head[0]) != cosig.root:
            return False
        self._db.execute(
            "INSERT OR REPLACE INTO cosignatures VALUES (?, ?, ?, ?, ?)",
            (cosig.tree_size, cosig.timestamp_ms, cosig.root, cosig.witness_key, cosig.signature),
        )
        return True

    def cosignatures(self, tree_size: int, timestamp_ms: int) -> list[Cosignature]:
        rows = self._db.execute(
            "SELECT tree_size, timestamp_ms, root, witness_key, signature FROM cosignatures "
            "WHERE tree_size = ? AND timestamp_ms = ? ORDER BY witness_key",
            (tree_size, timestamp_ms),
        )
        return [Cosignature(int(s), int(t), bytes(r), bytes(w), bytes(g)) for s, t, r, w, g in rows]

    def witness_sizes(self) -> dict[bytes, int]:
        """The largest tree size each witness (raw public key) co-signed."""
        rows = self._db.execute(
            "SELECT witness_key, MAX(tree_size) FROM cosignatures GROUP BY witness_key"
        )
        return {bytes(w): int(s) for w, s in rows}

    def add_refusal(self, refusal: Refusal, received_ms: int) -> None:
        """Keep a witness's (already checked) refusal; the same refusal twice is kept once."""
        self._db.execute(
            "INSERT OR IGNORE INTO refusals VALUES (?, ?, ?, ?)",
            (refusal.witness_key, refusal.signature, received_ms, orjson.dumps(refusal.to_dict())),
        )

    def refusals(self) -> list[tuple[int, Refusal]]:
        """Every stored refusal with the time it was received (ms), oldest first."""
        rows = self._db.execute("SELECT received_ms, body FROM refusals ORDER BY received_ms")
        return [(int(at), Refusal.from_dict(orjson.loads(body))) for at, body in rows]

    def get_meta(self, name: str) -> bytes | None:
        """A stored setting of the log (its public key)."""
        row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else bytes(row[0])

    def set_meta(self, name: str, value: bytes) -> None:
        """Store a setting of the log."""
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, value))


def _read_node(db: sqlite3.Connection, level: int, index: int) -> bytes:
    row = db.execute(
        "SELECT hash FROM nodes WHERE level = ? AND idx = ?", (level, index)
    ).fetchone()
    if row is None:
        raise LookupError(f"no complete subtree at level {level}, index {index}")
    return bytes(row[0])


def _head(row: tuple[int, int, bytes, str, bytes]) -> TreeHead:
    size, ts, root, kid, sig = row
    return TreeHead(int(size), int(ts), bytes(root), str(kid), bytes(sig))


class SqliteOpeningStore:
    """Salts and values of committed fields, keyed by entry key and field path (kept private)."""

    def __init__(self, path: str) -> None:
        self._db = _connect(path)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS openings (entry_key TEXT NOT NULL, path TEXT NOT NULL, "
            "salt BLOB NOT NULL, value BLOB NOT NULL, PRIMARY KEY (entry_key, path)) WITHOUT ROWID"
        )

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def put(self, items: Mapping[str, Sequence[Opening]]) -> None:
        """Store (replace) the openings of entries; written before the log commits them."""
        rows = [
            (key, o.path, o.salt, orjson.dumps(o.value))
            for key, openings in items.items()
            for o in openings
        ]
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany("INSERT OR REPLACE INTO openings VALUES (?, ?, ?, ?)", rows)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def get(self, key: str) -> list[Opening]:
        """The openings of one entry, by path."""
        rows = self._db.execute(
            "SELECT path, salt, value FROM openings WHERE entry_key = ? ORDER BY path", (key,)
        )
        return [Opening(str(p), bytes(s), orjson.loads(v)) for p, s, v in rows]
