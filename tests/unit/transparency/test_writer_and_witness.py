"""Pure parts of the writer (Kafka records to a batch, when to sign) and the witness's verdicts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from pipeline.transparency import merkle
from pipeline.transparency.heads import sign_head
from pipeline.transparency.keys import generate_private_key
from pipeline.transparency.records import RecordRejected, to_log_record
from pipeline.transparency.storage import writer_lock
from pipeline.transparency.witness import judge
from pipeline.transparency.writer import HeadPolicy, to_batch


@dataclass
class Msg:
    topic: str
    partition: int
    offset: int
    value: bytes | None


SOURCES = {"t.incidents": "incidents", "t.anomalies": "anomalies", "t.indicators": "indicators"}


def _transition(at: float, event: str = "detected") -> bytes:
    return orjson.dumps({"event": event, "at": at, "incident": {"incident_id": "svc/1"}})


def test_batch_keeps_logged_records_dead_letters_bad_ones_and_advances_offsets() -> None:
    indicator = {"name": "availability", "dimension": "sector", "key": "energy", "window": "24h",
                 "value": 0.99, "at": 100.0}  # fmt: skip
    batch = to_batch(
        [
            Msg("t.incidents", 2, 10, _transition(60.0)),
            Msg("t.incidents", 2, 11, b"{oops"),
            Msg("t.anomalies", 0, 5, b'{"type": "kpi_anomaly", "score": 0.95}'),
            Msg("t.indicators", 1, 7, orjson.dumps(indicator)),
            Msg("t.incidents", 3, 0, orjson.dumps({"event": "detected", "at": 1})),
        ],
        SOURCES,
        now=0.0,
    )
    assert [r.key for r in batch.records] == [
        "incident/svc/1/detected/60",
        "indicator/availability/sector/energy/24h/100",
    ]
    assert batch.offsets == {("t.incidents", 2): 12, ("t.anomalies", 0): 6,
                             ("t.indicators", 1): 8, ("t.incidents", 3): 1}  # fmt: skip
    assert batch.rejected_reasons == ["malformed_json", "missing_field"]
    dead = orjson.loads(batch.dead_letters[1])
    assert dead["field"] == "incident"
    assert dead["source_offset"] == 0


@pytest.mark.parametrize(
    ("value", "reason", "field"),
    [
        (b"[1, 2]", "wrong_type", None),
        (b'{"event": "detected", "at": "soon", "incident": {"incident_id": "x"}}',
         "missing_field", "at"),
        (b'{"event": "detected", "at": 1, "incident": {}}', "missing_field",
         "incident.incident_id"),
        (b'{"event": "detected", "at": NaN}', "malformed_json", None),
    ],
)  # fmt: skip
def test_rejections_name_the_field(value: bytes, reason: str, field: str | None) -> None:
    with pytest.raises(RecordRejected) as err:
        to_log_record("incidents", value)
    assert (err.value.reason, err.value.field) == (reason, field)


def test_the_same_transition_always_has_the_same_key() -> None:
    first = to_log_record("incidents", _transition(60.0))
    again = to_log_record("incidents", b" " + _transition(60))
    assert first is not None
    assert again is not None
    assert first.key == again.key
    other = to_log_record("incidents", _transition(60.0, "restored"))
    assert other is not None
    assert other.key != first.key


def test_heads_are_signed_after_new_entries_and_when_old() -> None:
    key = generate_private_key()
    policy = HeadPolicy(min_interval_s=1.0, max_age_s=60.0)
    head = sign_head(key, 10, 100_000, bytes(32))
    assert policy.due(None, 0, 0.0)
    assert not policy.due(head, 11, 100.5)  # new entries, but too soon
    assert policy.due(head, 11, 101.0)
    assert not policy.due(head, 10, 150.0)  # nothing new, head still fresh
    assert policy.due(head, 10, 160.0)


def _tree(n: int, tweak: int | None = None) -> tuple[list[bytes], bytes]:
    leaves = [merkle.leaf_hash(b"x" if i == tweak else bytes([i])) for i in range(n)]
    return leaves, merkle.root_from_leaves(leaves)


def _proof(leaves: list[bytes], first: int, second: int) -> list[bytes]:
    return merkle.consistency_proof(
        first, second, lambda a, b: merkle.root_from_leaves(leaves[a:b])
    )


def test_witness_verdicts() -> None:
    key, other = generate_private_key(), generate_private_key()
    leaves, root10 = _tree(10)
    root6 = merkle.root_from_leaves(leaves[:6])
    last = sign_head(key, 6, 1, root6)
    good = sign_head(key, 10, 2, root10)
    assert judge(last, good, key.public_key(), _proof(leaves, 6, 10)).accepted
    assert judge(None, good, key.public_key(), []).accepted
    # a history rewritten below the last co-signed size
    forged_leaves, forged_root = _tree(10, tweak=3)
    forged = sign_head(key, 10, 3, forged_root)
    verdict = judge(last, forged, key.public_key(), _proof(forged_leaves, 6, 10))
    assert verdict.result == "inconsistent"
    assert "does not extend the head of size 6" in verdict.message
    assert judge(good, last, key.public_key(), []).message.startswith("rollback")
    fork = sign_head(key, 10, 4, forged_root)
    assert judge(good, fork, key.public_key(), []).message.startswith("split view")
    assert judge(good, sign_head(key, 10, 5, root10), key.public_key(), []).accepted
    impostor = sign_head(other, 10, 2, root10)
    assert judge(last, impostor, key.public_key(), []).result == "bad_signature"


def test_a_log_has_one_writer(tmp_path: Path) -> None:
    first = writer_lock(tmp_path)
    with pytest.raises(ValueError, match="another writer is running"):
        writer_lock(tmp_path)
    first.close()  # as when the process exits, even by kill -9
    writer_lock(tmp_path).close()
