"""The transparency log: appends keyed records, answers roots and proofs, signs tree heads.

Pure apart from the store it is given. Appending is idempotent on the record key: a key
already in the log (or earlier in the same batch) is skipped. Each batch, its subtree hashes
and the Kafka offsets it consumed are committed together; the openings of redacted fields are
written first to their own store (replaced if a crashed batch is replayed with new salts).

>>> from pipeline.transparency.store import SqliteLogStore, SqliteOpeningStore
>>> from pipeline.transparency.records import LogRecord
>>> from pipeline.transparency.redaction import RedactionPolicy
>>> log = TransparencyLog(SqliteLogStore(":memory:"), SqliteOpeningStore(":memory:"),
...                       RedactionPolicy())
>>> recs = [LogRecord(f"k{i}", "indicator", {"i": i}) for i in range(5)]
>>> log.append(recs, {}), log.append(recs[3:], {}), log.size
(5, 0, 5)
>>> proof = log.inclusion_proof(2, 5)
>>> from pipeline.transparency.merkle import verify_inclusion
>>> verify_inclusion(2, 5, log.leaf_hash(2), proof, log.root(5))
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pipeline.transparency import merkle
from pipeline.transparency.canonical import canonical_json
from pipeline.transparency.heads import TreeHead, sign_head
from pipeline.transparency.records import LogRecord
from pipeline.transparency.redaction import Opening, RedactionPolicy, redact
from pipeline.transparency.store import EntryRow, LogStore, Offsets, OpeningStore

T = TypeVar("T")


class TransparencyLog:
    """An append-only Merkle log over a :class:`LogStore`."""

    def __init__(
        self, store: LogStore, openings: OpeningStore | None, policy: RedactionPolicy
    ) -> None:
        self.store = store
        self.openings = openings
        self.policy = policy
        self._reload()

    def close(self) -> None:
        """Close both stores."""
        self.store.close()
        if self.openings is not None:
            self.openings.close()

    def refresh(self) -> None:
        """Catch up with entries another connection (the writer) committed."""
        if self.store.size() != self.size:
            self._reload()

    def _reload(self) -> None:
        self.size = self.store.size()
        # The right edge: complete subtrees whose sizes are the set bits of size, by level.
        self._frontier: dict[int, bytes] = {}
        start = 0
        for level in range(self.size.bit_length() - 1, -1, -1):
            if self.size >> level & 1:
                self._frontier[level] = self.store.node(level, start >> level)
                start += 1 << level

    def append(self, records: Sequence[LogRecord], offsets: Offsets) -> int:
        """Append the records not yet logged; store ``offsets`` with them. Returns how many."""
        known = self.store.known_keys(r.key for r in records)
        rows: list[EntryRow] = []
        nodes: list[tuple[int, int, bytes]] = []
        secrets: dict[str, list[Opening]] = {}
        frontier = dict(self._frontier)
        index = self.size
        for record in records:
            if record.key in known:
                continue
            known.add(record.key)
            public, openings = redact(self.policy, record.kind, record.record)
            if openings:
                secrets[record.key] = openings
            leaf = canonical_json(record.envelope(public))
            rows.append(EntryRow(index, record.key, record.kind, leaf))
            node, level, position = merkle.leaf_hash(leaf), 0, index
            nodes.append((0, position, node))
            while level in frontier:  # a left sibling completes: the parent is complete too
                node = merkle.node_hash(frontier.pop(level), node)
                level, position = level + 1, position >> 1
                nodes.append((level, position, node))
            frontier[level] = node
            index += 1
        if not rows and not offsets:
            return 0
        if secrets:
            if self.openings is None:
                raise RuntimeError("the redaction policy commits fields but no opening store")
            self.openings.put(secrets)
        try:
            self.store.append(rows, nodes, offsets)
        except BaseException:
            self._reload()
            raise
        self._frontier, self.size = frontier, index
        return len(rows)

    def _complete(self, level: int, index: int) -> bytes:
        return self.store.node(level, index)

    def subtree(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) from stored complete subtrees."""
        return merkle.range_hash(start, end, self._complete)

    def _prefetched(self, build: Callable[[merkle.SubtreeHash], T]) -> T:
        """Run ``build`` over subtree hashes read in one go from the store.

        Which complete subtrees a proof visits depends only on sizes and indexes, not on
        hashes: a dry run with placeholder hashes names them, one ``store.nodes`` call reads
        them (one round trip on a database server instead of one per node), and the real run
        uses them.
        """
        wanted: list[tuple[int, int]] = []

        def record(level: int, index: int) -> bytes:
            wanted.append((level, index))
            return merkle.EMPTY_ROOT

        build(lambda start, end: merkle.range_hash(start, end, record))
        found = self.store.nodes(wanted)
        return build(lambda start, end: merkle.range_hash(start, end, lambda lv, i: found[(lv, i)]))

    def root(self, size: int | None = None) -> bytes:
        """The tree hash at ``size`` entries (default: now)."""
        size = self.size if size is None else size
        if size > self.size or size < 0:
            raise ValueError(f"tree size {size} is outside 0..{self.size}")
        if size == 0:
            return merkle.EMPTY_ROOT
        return self._prefetched(lambda subtree: subtree(0, size))

    def leaf_hash(self, index: int) -> bytes:
        """The stored leaf hash of entry ``index``."""
        return self.store.node(0, index)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """Audit path of entry ``index`` in the tree of ``size`` entries."""
        if size > self.size:
            raise ValueError(f"tree size {size} is larger than the log ({self.size})")
        return self._prefetched(lambda subtree: merkle.inclusion_proof(index, size, subtree))

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """Proof that the tree of ``first`` entries is a prefix of the one of ``second``."""
        if second > self.size:
            raise ValueError(f"tree size {second} is larger than the log ({self.size})")
        return self._prefetched(lambda subtree: merkle.consistency_proof(first, second, subtree))

    def sign(self, key: Ed25519PrivateKey, now_ms: int) -> TreeHead:
        """Sign and store a head for the current size."""
        head = sign_head(key, self.size, now_ms, self.root())
        self.store.add_head(head)
        return head
