"""The store contract, over SQLite and a real PostgreSQL (``ledger_backend``): idempotent
appends, offsets with entries, proofs after a reopen, openings kept apart, one writer."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pg8000.native
import pytest

from pipeline.transparency import merkle
from pipeline.transparency.heads import check_cosignature, check_head, cosign, sign_head
from pipeline.transparency.keys import (
    KeyLoadError,
    generate_private_key,
    load_private_key,
    private_key_pem,
)
from pipeline.transparency.log import TransparencyLog
from pipeline.transparency.records import LogRecord
from pipeline.transparency.redaction import RedactionPolicy, check_opening
from tests.support.postgres import LedgerBackend

POLICY = RedactionPolicy.from_mapping(
    {"version": 1, "kinds": {"incident_transition": {"sensitive": ["note"]}}}
)


def _open(backend: LedgerBackend) -> TransparencyLog:
    return backend.open(POLICY)


def _records(start: int, end: int) -> list[LogRecord]:
    return [
        LogRecord(f"incident/{i}", "incident_transition", {"n": i, "note": f"secret {i}"})
        for i in range(start, end)
    ]


def test_appends_are_idempotent_on_keys_and_store_offsets(ledger_backend: LedgerBackend) -> None:
    log = _open(ledger_backend)
    assert log.append(_records(0, 10), {("cw.incidents", 0): 10}) == 10
    # a replay overlapping the end, plus a duplicate inside the batch
    batch = [*_records(5, 15), *_records(12, 13)]
    assert log.append(batch, {("cw.incidents", 0): 15}) == 5
    assert log.size == 15
    assert log.store.offsets() == {("cw.incidents", 0): 15}
    assert [e.key for e in log.store.entries(0, 15)] == [f"incident/{i}" for i in range(15)]


def test_roots_and_proofs_survive_a_reopen(ledger_backend: LedgerBackend) -> None:
    log = _open(ledger_backend)
    for i in range(0, 37, 5):
        log.append(_records(i, min(i + 5, 37)), {})
    leaves = [e.leaf for e in log.store.entries(0, 37)]
    for size in (1, 2, 16, 17, 37):
        assert log.root(size) == merkle.root_from_leaves(
            [merkle.leaf_hash(x) for x in leaves[:size]]
        )
    old_root = log.root(20)
    log.close()
    reopened = _open(ledger_backend)
    reopened.append(_records(37, 50), {})
    root = reopened.root()
    assert root == merkle.root_from_leaves(
        [merkle.leaf_hash(e.leaf) for e in reopened.store.entries(0, 50)]
    )
    assert merkle.verify_consistency(20, 50, old_root, root, reopened.consistency_proof(20, 50))
    for index in (0, 19, 36, 49):
        proof = reopened.inclusion_proof(index, 50)
        assert merkle.verify_inclusion(index, 50, reopened.leaf_hash(index), proof, root)


def test_sensitive_fields_are_not_in_the_log_but_open_from_the_store(
    ledger_backend: LedgerBackend,
) -> None:
    log = _open(ledger_backend)
    log.append(_records(0, 3), {})
    log.store.close()
    assert b"incident/1" in ledger_backend.log_contents()
    assert b"secret 1" not in ledger_backend.log_contents()
    entry = _open(ledger_backend).store.entries(1, 2)[0]
    public = orjson.loads(entry.leaf)["record"]
    assert log.openings is not None
    (opening,) = log.openings.get("incident/1")
    assert opening.value == "secret 1"
    assert check_opening(public, opening) is None


def test_a_failed_commit_leaves_the_log_as_it_was(ledger_backend: LedgerBackend) -> None:
    log = _open(ledger_backend)
    log.append(_records(0, 4), {})
    before = log.root()
    with pytest.raises((sqlite3.ProgrammingError, pg8000.native.DatabaseError)):
        log.append(_records(4, 6), {("topic", "not-a-partition"): object()})  # type: ignore[dict-item]
    assert log.size == 4
    assert log.root() == before
    assert log.store.index_of("incident/4") is None
    assert log.append(_records(4, 6), {}) == 2
    assert _open(ledger_backend).root() == log.root()


def test_heads_sign_and_cosign(ledger_backend: LedgerBackend) -> None:
    log = _open(ledger_backend)
    log.append(_records(0, 3), {})
    key, witness = generate_private_key(), generate_private_key()
    head = log.sign(key, 1_700_000_000_000)
    assert check_head(head, key.public_key()) is None
    assert check_head(head, witness.public_key()) is not None
    cosig = cosign(witness, head.key_id, head)
    assert check_cosignature(cosig, head.key_id) is None
    assert log.store.add_cosignature(cosig)
    assert log.store.add_cosignature(cosig)  # handed in twice: kept once
    assert log.store.cosignatures(3, 1_700_000_000_000) == [cosig]
    assert log.store.latest_cosigned_head(3) == head == log.store.latest_head()
    assert log.store.witness_sizes() == {cosig.witness_key: 3}
    later = log.sign(key, 1_700_000_001_000)
    assert log.store.heads(0, 3) == [head, later]
    assert log.store.latest_cosigned_head(3) == head
    forged = cosign(witness, head.key_id, sign_head(key, 3, 1_700_000_000_000, bytes(32)))
    assert not log.store.add_cosignature(forged)  # not a head this log signed
    log.store.set_meta("log_public_key", b"k1")
    log.store.set_meta("log_public_key", b"k2")
    assert log.store.get_meta("log_public_key") == b"k2"
    assert log.store.get_meta("absent") is None
    other_log = generate_private_key()
    assert check_cosignature(cosig, cosign(other_log, head.key_id, head).witness_id) is not None


def test_a_log_has_one_writer(ledger_backend: LedgerBackend) -> None:
    first = ledger_backend.open(POLICY, writer=True)
    with pytest.raises(ValueError, match="another writer is running"):
        ledger_backend.open(POLICY, writer=True)
    reader = ledger_backend.open(POLICY)  # readers are not writers: any number of them
    first.append(_records(0, 2), {})
    reader.refresh()
    assert reader.size == 2
    first.close()
    second = ledger_backend.open(POLICY, writer=True)
    assert second.append(_records(0, 3), {}) == 1
    second.close()


def test_keys_load_from_file_or_env_and_errors_do_not_echo_the_key(tmp_path: Path) -> None:
    key = generate_private_key()
    pem = private_key_pem(key)
    (tmp_path / "k.pem").write_bytes(pem)
    assert load_private_key(str(tmp_path / "k.pem"), {}).public_key() == key.public_key()
    assert load_private_key(None, {"CW_LEDGER_KEY": pem.decode()}).public_key() == key.public_key()
    with pytest.raises(KeyLoadError, match="CW_LEDGER_KEY") as err:
        load_private_key(None, {"CW_LEDGER_KEY": "c2VjcmV0LWJ1dC1zaG9ydA=="})
    assert "c2VjcmV0" not in str(err.value)
    with pytest.raises(KeyLoadError, match="--key-file"):
        load_private_key(None, {})
