"""Self-contained export bundles and their offline verification.

A bundle (JSON) holds the log's public key, a signed tree head (with its witnesses'
co-signatures), earlier signed heads with consistency proofs to it, and a contiguous range of
entries, each with its exact leaf bytes (canonical JSON, as a string) and its inclusion proof.
Optionally it carries openings of redacted fields (a disclosure). :func:`verify_bundle` needs
nothing else and reports every problem, naming the first bad entry.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

import orjson

from pipeline.transparency import merkle
from pipeline.transparency.canonical import CanonicalError, canonical_json
from pipeline.transparency.heads import (
    Cosignature,
    TreeHead,
    check_cosignature,
    check_head,
)
from pipeline.transparency.keys import key_id, public_key_from_bytes
from pipeline.transparency.log import TransparencyLog
from pipeline.transparency.redaction import Opening, check_opening

FORMAT = "continuity-watch-ledger-bundle/v1"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def export_bundle(
    log: TransparencyLog,
    head: TreeHead,
    public_key: bytes,
    start: int,
    end: int,
    *,
    with_openings: bool = False,
) -> dict[str, Any]:
    """Entries ``[start, end)`` proven against ``head`` (whose size must be at least ``end``)."""
    if not 0 <= start <= end <= head.tree_size:
        raise ValueError(
            f"range [{start}, {end}) is not inside the head's {head.tree_size} entries"
        )
    earlier = _earlier_heads(log, head, start)
    entries: list[dict[str, Any]] = []
    for row in log.store.entries(start, end):
        item: dict[str, Any] = {
            "index": row.index,
            "leaf": row.leaf.decode("utf-8"),
            "inclusion": [_b64(p) for p in log.inclusion_proof(row.index, head.tree_size)],
        }
        if with_openings and log.openings is not None:
            opened = log.openings.get(row.key)
            if opened:
                item["openings"] = [
                    {"path": o.path, "salt": _b64(o.salt), "value": o.value} for o in opened
                ]
        entries.append(item)
    return {
        "format": FORMAT,
        "log_public_key": _b64(public_key),
        "head": head.to_dict(),
        "cosignatures": [
            c.to_dict() for c in log.store.cosignatures(head.tree_size, head.timestamp_ms)
        ],
        "earlier_heads": [
            {
                "head": h.to_dict(),
                "consistency": [
                    _b64(p) for p in log.consistency_proof(h.tree_size, head.tree_size)
                ],
            }
            for h in earlier
        ],
        "from": start,
        "to": end,
        "entries": entries,
    }


#: Earlier heads a bundle carries at most (the latest ones, one per tree size).
MAX_EARLIER_HEADS = 256


def _earlier_heads(log: TransparencyLog, head: TreeHead, start: int) -> list[TreeHead]:
    """One signed head per distinct size in (start, head size], the first signed of each.

    The log re-signs an unchanged size periodically; those heads add nothing to a proof of
    history, so only the first head of each size goes in, and at most the last 256.
    """
    first_of_size: dict[int, TreeHead] = {}
    for h in log.store.heads(max(start, 1), head.tree_size):
        if h != head and h.tree_size not in first_of_size:
            first_of_size[h.tree_size] = h
    return [first_of_size[s] for s in sorted(first_of_size)][-MAX_EARLIER_HEADS:]


@dataclass
class Verification:
    """What :func:`verify_bundle` found: problems in order, the first bad entry, counts."""

    problems: list[str] = field(default_factory=list)
    first_bad_entry: int | None = None
    entries_checked: int = 0
    witnesses: list[str] = field(default_factory=list)
    openings_checked: int = 0

    @property
    def ok(self) -> bool:
        """True when nothing was wrong."""
        return not self.problems

    def bad_entry(self, index: int, problem: str) -> None:
        if self.first_bad_entry is None:
            self.first_bad_entry = index
        self.problems.append(problem)


def verify_bundle(bundle: Any, pinned_key: bytes | None = None) -> Verification:
    """Check every signature, proof, entry and opening of a bundle, offline."""
    result = Verification()
    try:
        _verify(bundle, pinned_key, result)
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        detail = f"missing field {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc)
        result.problems.append(f"bundle is malformed: {detail}")
    return result


def _unb64(text: Any) -> bytes:
    return base64.b64decode(str(text), validate=True)


def _verify(bundle: Any, pinned_key: bytes | None, result: Verification) -> None:
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        raise ValueError(f"'format' must be {FORMAT!r}")
    raw_key = _unb64(bundle["log_public_key"])
    if pinned_key is not None and raw_key != pinned_key:
        result.problems.append("the bundle's log key is not the key you pinned (--log-key)")
    log_key = public_key_from_bytes(pinned_key if pinned_key is not None else raw_key)
    log_id = key_id(log_key)
    head = TreeHead.from_dict(bundle["head"])
    if (problem := check_head(head, log_key)) is not None:
        result.problems.append(problem)
        return  # nothing below can be trusted without a good head
    for raw in bundle.get("cosignatures", []):
        cosig = Cosignature.from_dict(raw)
        if (cosig.tree_size, cosig.timestamp_ms, cosig.root) != (
            head.tree_size,
            head.timestamp_ms,
            head.root,
        ):
            result.problems.append(
                f"co-signature by {cosig.witness_id[:16]}... is for another head"
            )
        elif (problem := check_cosignature(cosig, log_id)) is not None:
            result.problems.append(problem)
        else:
            result.witnesses.append(cosig.witness_id)
    for item in bundle.get("earlier_heads", []):
        old = TreeHead.from_dict(item["head"])
        if (problem := check_head(old, log_key)) is not None:
            result.problems.append(problem)
            continue
        proof = [_unb64(p) for p in item["consistency"]]
        if not merkle.verify_consistency(old.tree_size, head.tree_size, old.root, head.root, proof):
            kind = "split view" if old.tree_size == head.tree_size else "rewritten history"
            result.problems.append(
                f"{kind}: head of size {old.tree_size} is not consistent with head of size "
                f"{head.tree_size}"
            )
    _verify_entries(bundle, head, result)


def _verify_entries(bundle: dict[str, Any], head: TreeHead, result: Verification) -> None:
    start, end = int(bundle["from"]), int(bundle["to"])
    entries = bundle["entries"]
    if not isinstance(entries, list):
        raise ValueError("'entries' must be a list")
    if not 0 <= start <= end <= head.tree_size:
        raise ValueError(f"range [{start}, {end}) is not inside the head's {head.tree_size}")
    for position, item in enumerate(entries):
        expected = start + position
        index = int(item["index"])
        if index != expected:
            what = "missing" if index > expected else "out of order"
            result.bad_entry(
                expected,
                f"entry {expected}: {what} (position {position} holds entry {index}); "
                "entries were deleted or reordered",
            )
            continue
        leaf = str(item["leaf"]).encode("utf-8")
        proof = [_unb64(p) for p in item["inclusion"]]
        if not merkle.verify_inclusion(
            index, head.tree_size, merkle.leaf_hash(leaf), proof, head.root
        ):
            result.bad_entry(
                index, f"entry {index}: not included in the signed tree (altered or replaced)"
            )
            continue
        result.entries_checked += 1
        _verify_openings(index, leaf, item.get("openings", []), result)
    if start + len(entries) < end:
        result.bad_entry(
            start + len(entries),
            f"entry {start + len(entries)}: missing (bundle ends after {len(entries)} of "
            f"{end - start} entries)",
        )
    elif start + len(entries) > end:
        result.problems.append(f"bundle holds {len(entries)} entries for range [{start}, {end})")


def _verify_openings(index: int, leaf: bytes, raw: Any, result: Verification) -> None:
    if not raw:
        return
    try:
        public = orjson.loads(leaf)["record"]
        canonical_ok = canonical_json(orjson.loads(leaf)) == leaf
    except (orjson.JSONDecodeError, KeyError, TypeError, CanonicalError):
        public, canonical_ok = None, False
    if not canonical_ok:
        result.bad_entry(index, f"entry {index}: leaf is not a canonical log record")
        return
    for item in raw:
        opening = Opening(str(item["path"]), _unb64(item["salt"]), item["value"])
        if (problem := check_opening(public, opening)) is not None:
            result.bad_entry(index, f"entry {index}: disclosure {problem}")
        else:
            result.openings_checked += 1
