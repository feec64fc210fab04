"""``continuity ledger bench``: append rate, proof time, bundle verification, bytes per entry.

Runs the real log over SQLite files in a scratch directory (or over an empty PostgreSQL schema,
``--store``) with realistic incident transitions (redacted by the shipped policy, as in
production). Proof cost is measured at the full size
and at 1/1000 of it, so the ratio shows the O(log n) growth independently of this machine's
speed. Results are a JSON object (see docs/benchmarks.md for the figures published).
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from pipeline.transparency import merkle
from pipeline.transparency.bundle import export_bundle, verify_bundle
from pipeline.transparency.keys import generate_private_key, public_key_bytes
from pipeline.transparency.log import TransparencyLog
from pipeline.transparency.records import LogRecord
from pipeline.transparency.redaction import DEFAULT_POLICY, RedactionPolicy
from pipeline.transparency.storage import LedgerStorage, SqliteStorage

EVENTS = ("detected", "acknowledged", "restored")


def transition(i: int) -> LogRecord:
    """A realistic incident transition (about 700 bytes of JSON), the i-th of a stream."""
    n = i // 3
    event = EVENTS[i % 3]
    at = 1_700_000_000.0 + n * 7.5 + (i % 3) * 60
    incident = {
        "incident_id": f"feeder-{n % 5000}/{1_700_000_000 + n}",
        "service": {
            "service_id": f"feeder-{n % 5000}",
            "operator_id": f"dso-{n % 17}",
            "sector": "energy",
            "region": f"UA-{n % 27:02d}",
            "customers_served": 40 + n % 900,
        },
        "started_at": at - 60,
        "detected_at": at,
        "acknowledged_at": at + 60 if event != "detected" else None,
        "ack_method": "operator" if event != "detected" else None,
        "ack_by": "control room" if event != "detected" else None,
        "operator_status": None,
        "restored_at": at + 120 if event == "restored" else None,
        "severity": "down",
        "customers_affected": 10 + n % 400,
        "users_affected": None,
        "evidence_ids": [f"probe-{n % 11}", f"report-{n}"],
        "detectors": ["consensus"],
        "maintenance": False,
        "reopened": 0,
        "attrs": {"endpoint": f"https://scada-{n % 5000}.dso.example/status"},
    }
    body = {"event": event, "at": at, "incident": incident}
    key = f"incident/{incident['incident_id']}/{event}/{at}"
    return LogRecord(key, "incident_transition", body)


def _stats(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "median_s": statistics.median(ordered),
        "p99_s": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
    }


@contextmanager
def _counting(log: TransparencyLog) -> Iterator[Callable[[], int]]:
    """Count the stored nodes a proof reads (call the yielded function to take the count)."""
    store = log.store
    reads = [0]
    original_node, original_nodes = store.node, store.nodes

    def node(level: int, index: int) -> bytes:
        reads[0] += 1
        return original_node(level, index)

    def nodes(keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        reads[0] += len(keys)
        return original_nodes(keys)

    def take() -> int:
        n, reads[0] = reads[0], 0
        return n

    store.node = node  # type: ignore[method-assign]
    store.nodes = nodes  # type: ignore[method-assign]
    try:
        yield take
    finally:
        del store.node  # back to the class's methods
        del store.nodes


def _proofs(log: TransparencyLog, size: int, samples: int, rng: random.Random) -> dict[str, Any]:
    with _counting(log) as take:
        return _measure_proofs(log, size, samples, rng, take)


def _measure_proofs(
    log: TransparencyLog, size: int, samples: int, rng: random.Random, take: Callable[[], int]
) -> dict[str, Any]:
    indices = [rng.randrange(size) for _ in range(samples)]
    inclusion = []
    reads = []
    root = log.root(size)
    for i in indices:
        take()
        started = time.perf_counter()
        proof = log.inclusion_proof(i, size)
        inclusion.append(time.perf_counter() - started)
        reads.append(take())
        if not merkle.verify_inclusion(i, size, log.leaf_hash(i), proof, root):
            raise AssertionError(f"inclusion proof of {i} in {size} does not verify")
    consistency = []
    for _ in range(samples):
        first = rng.randrange(1, size + 1)
        started = time.perf_counter()
        log.consistency_proof(first, size)
        consistency.append(time.perf_counter() - started)
    return {
        "tree_size": size,
        "inclusion": _stats(inclusion),
        "inclusion_node_reads_max": max(reads),
        "consistency": _stats(consistency),
    }


def run(
    entries: int,
    workdir: Path,
    *,
    batch: int = 1000,
    samples: int = 200,
    bundle_entries: int = 10_000,
    out: TextIO | None = None,
    storage: LedgerStorage | None = None,
) -> dict[str, Any]:
    """Fill a fresh log with ``entries`` transitions and measure it.

    ``storage``: an empty log to fill (default: SQLite files in ``workdir``, deleted first).
    """
    out = out if out is not None else sys.stderr
    if storage is None:
        workdir.mkdir(parents=True, exist_ok=True)
        for name in ("log.db", "log.db-wal", "log.db-shm", "openings.db", "openings.db-wal"):
            (workdir / name).unlink(missing_ok=True)
        storage = SqliteStorage(workdir)
    log = storage.open_log(RedactionPolicy.load(DEFAULT_POLICY), writer=True)
    if log.size:
        log.close()
        raise ValueError(
            f"{storage.describe()} already holds {log.size:,} entries; the bench fills an "
            "empty log (name a fresh ?schema=)"
        )
    key = generate_private_key()
    rng = random.Random(1)
    small = max(1, entries // 1000)
    result: dict[str, Any] = {"entries": entries, "batch": batch, "store": storage.describe()}
    started = time.perf_counter()
    last_report = started
    tail_start, tail_from = started, entries - entries // 10
    for start in range(0, entries, batch):
        if start >= tail_from and tail_start == started:
            tail_start = time.perf_counter()
        end = min(entries, start + batch)
        log.append([transition(i) for i in range(start, end)], {("cw.incidents", 0): end})
        if start < small <= end:
            result["proofs_small"] = _proofs(log, small, samples, rng)
        now = time.perf_counter()
        if now - last_report > 5 or end == entries:
            rate = end / (now - started)
            out.write(f"[ledger bench] appended {end:,}/{entries:,} ({rate:,.0f}/s)\n")
            last_report = now
    elapsed = time.perf_counter() - started
    result["append"] = {
        "seconds": elapsed,
        "entries_per_s": entries / elapsed,
        "last_tenth_entries_per_s": (entries - tail_from) / (time.perf_counter() - tail_start),
    }
    head = log.sign(key, int(time.time() * 1000))
    out.write("[ledger bench] proofs\n")
    result["proofs"] = _proofs(log, entries, samples, rng)
    if "proofs_small" in result:
        result["inclusion_median_ratio_full_to_small"] = (
            result["proofs"]["inclusion"]["median_s"]
            / result["proofs_small"]["inclusion"]["median_s"]
        )
    n = min(bundle_entries, entries)
    out.write(f"[ledger bench] bundle of {n:,} entries\n")
    started = time.perf_counter()
    bundle = export_bundle(log, head, public_key_bytes(key.public_key()), entries - n, entries)
    exported = time.perf_counter() - started
    started = time.perf_counter()
    verification = verify_bundle(bundle)
    verified = time.perf_counter() - started
    if not verification.ok:
        raise AssertionError(f"bundle did not verify: {verification.problems[:3]}")
    result["bundle"] = {
        "entries": n,
        "export_s": exported,
        "verify_s": verified,
        "verify_entries_per_s": n / verified,
    }
    sample = log.store.entries(0, min(entries, 1000))
    leaf_mean = sum(len(e.leaf) for e in sample) / len(sample)
    if isinstance(storage, SqliteStorage):
        log.close()  # checkpoints the WAL into the file first, as a long-running log would
        log_bytes, openings_bytes = storage.storage_bytes(log)
    else:
        log_bytes, openings_bytes = storage.storage_bytes(log)
        log.close()
    result["storage"] = {
        "log_bytes_per_entry": log_bytes / entries,
        "openings_bytes_per_entry": openings_bytes / entries,
        "leaf_bytes_mean": leaf_mean,
    }
    return result
