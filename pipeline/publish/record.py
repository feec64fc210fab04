"""The verifiable record as the status page shows it: the log's size, its last signed tree
head and whether independent witnesses agree with it (pure; the HTTP read is in
:mod:`pipeline.publish.record_client`).

Built from two answers of the log's API, ``GET /ledger/v1/head`` and
``GET /ledger/v1/witnesses``. None of it is sensitive (sizes, times, witness key ids), so every
audience sees the same block. A witness *co-signed the latest head* when it co-signed a head of
the latest signed size (the log re-signs an unchanged size; a witness co-signs the new head at
its next poll). Witness refusals are the signed statements witnesses hand to the log; a
dishonest log could drop them, so the block says how many it serves, not that there were none.

>>> head = {"head": {"tree_size": 45, "timestamp_ms": 1_700_000_000_000}}
>>> wit = {"witnesses": [
...     {"witness_id": "aa" * 32, "cosigned_size": 45, "refusals": 0, "last_refusal": None},
...     {"witness_id": "bb" * 32, "cosigned_size": 30, "refusals": 2,
...      "last_refusal": {"reason": "split view", "received_ms": 1_700_000_001_000}}]}
>>> r = summarize_record(head, wit, now=1_700_000_060.0)
>>> r["state"], r["tree_size"], r["head_age_s"], r["cosigned_latest"], r["witnesses_refusing"]
('ok', 45, 60.0, 1, 1)
>>> summarize_record(head, wit, now=1_700_000_060.0, trusted=("aaaaaaaa",))["refusals"]
0
>>> unreachable_record(now=0.0, last=r)["state"], unreachable_record(0.0, None)["tree_size"]
('unreachable', None)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

OK, EMPTY, UNREACHABLE = "ok", "empty", "unreachable"


def summarize_record(
    head_body: dict[str, Any] | None,
    witnesses_body: dict[str, Any],
    now: float,
    trusted: Sequence[str] = (),
) -> dict[str, Any]:
    """The block from the log's answers; ``head_body`` None when the log has no head yet.

    ``trusted`` (witness key id prefixes) restricts which witnesses count; empty counts all.
    Raises ``ValueError`` (naming the field) on an answer that is not the log's API.
    """
    rows = [_witness_row(w) for w in _list(witnesses_body, "witnesses")]
    rows = [r for r in rows if not trusted or r["witness_id"].startswith(tuple(trusted))]
    if head_body is None:
        return {**_blank(EMPTY, now), "witnesses": rows, "witnesses_known": len(rows)}
    head = head_body.get("head")
    if not isinstance(head, dict):
        raise ValueError("head: missing from the log's /ledger/v1/head answer")
    size, ts_ms = _whole(head, "tree_size"), _whole(head, "timestamp_ms")
    for row in rows:
        cosigned = row["cosigned_size"]
        row["behind"] = None if cosigned is None else max(0, size - cosigned)
    return {
        "state": OK,
        "checked_at": _iso(now),
        "tree_size": size,
        "head_time": _iso(ts_ms / 1000),
        "head_age_s": round(max(0.0, now - ts_ms / 1000), 1),
        "witnesses_known": len(rows),
        "cosigned_latest": sum(1 for r in rows if r["behind"] == 0),
        "witnesses_refusing": sum(1 for r in rows if r["refusals"]),
        "refusals": sum(r["refusals"] for r in rows),
        "witnesses": rows,
    }


def unreachable_record(now: float, last: dict[str, Any] | None) -> dict[str, Any]:
    """The block when the log cannot be read: says so, and keeps what was last known."""
    block = _blank(UNREACHABLE, now)
    if last is not None and last.get("state") == OK:
        block["last_known"] = {
            k: last[k] for k in ("checked_at", "tree_size", "head_time", "cosigned_latest")
        }
    return block


def _blank(state: str, now: float) -> dict[str, Any]:
    return {
        "state": state,
        "checked_at": _iso(now),
        "tree_size": None,
        "head_time": None,
        "head_age_s": None,
        "witnesses_known": 0,
        "cosigned_latest": 0,
        "witnesses_refusing": 0,
        "refusals": 0,
        "witnesses": [],
    }


def _witness_row(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict) or not isinstance(raw.get("witness_id"), str):
        raise ValueError("witnesses[]: each must be an object with a witness_id")
    last = raw.get("last_refusal") if isinstance(raw.get("last_refusal"), dict) else None
    cosigned = raw.get("cosigned_size")
    return {
        "witness_id": raw["witness_id"],
        "witness": raw["witness_id"][:16],
        "cosigned_size": cosigned if isinstance(cosigned, int) else None,
        "behind": None,
        "refusals": _whole(raw, "refusals"),
        "last_refusal_reason": None if last is None else str(last.get("reason", ""))[:200],
        "last_refusal_at": None
        if last is None or not isinstance(last.get("received_ms"), int)
        else _iso(last["received_ms"] / 1000),
    }


def _list(body: dict[str, Any], name: str) -> list[Any]:
    value = body.get(name)
    if not isinstance(value, list):
        raise ValueError(f"{name}: missing from the log's answer")
    return value


def _whole(body: dict[str, Any], name: str) -> int:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name}: must be a whole number >= 0 in the log's answer")
    return value


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
