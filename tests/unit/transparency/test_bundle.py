"""Export bundles verify offline; every tampering is detected and named."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest

from pipeline.transparency.bundle import export_bundle, verify_bundle
from pipeline.transparency.heads import TreeHead, cosign, sign_head
from pipeline.transparency.keys import generate_private_key, public_key_bytes
from pipeline.transparency.log import TransparencyLog
from pipeline.transparency.records import LogRecord
from pipeline.transparency.redaction import RedactionPolicy
from pipeline.transparency.store import SqliteLogStore, SqliteOpeningStore

LOG_KEY = generate_private_key()
POLICY = RedactionPolicy.from_mapping(
    {"version": 1, "kinds": {"incident_transition": {"sensitive": ["host"]}}}
)


@pytest.fixture(scope="module")
def log_and_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[TransparencyLog, Any]:
    tmp = tmp_path_factory.mktemp("bundle")
    log = TransparencyLog(
        SqliteLogStore(str(tmp / "log.db")), SqliteOpeningStore(str(tmp / "o.db")), POLICY
    )
    records = [
        LogRecord(f"incident/{i}", "incident_transition", {"n": i, "host": f"h{i}.example"})
        for i in range(20)
    ]
    log.append(records[:8], {})
    log.sign(LOG_KEY, 1_000)
    log.append(records[8:], {})
    head = log.sign(LOG_KEY, 2_000)
    witness = generate_private_key()
    assert log.store.add_cosignature(cosign(witness, head.key_id, head))
    bundle = export_bundle(
        log, head, public_key_bytes(LOG_KEY.public_key()), 0, 20, with_openings=True
    )
    return log, bundle


def _fresh(log_and_bundle: tuple[TransparencyLog, Any]) -> Any:
    return copy.deepcopy(log_and_bundle[1])


def test_an_untouched_bundle_verifies(log_and_bundle: tuple[TransparencyLog, Any]) -> None:
    bundle = _fresh(log_and_bundle)
    # ...also after a round trip through its file form
    result = verify_bundle(json.loads(json.dumps(bundle)), public_key_bytes(LOG_KEY.public_key()))
    assert result.problems == []
    assert result.entries_checked == 20
    assert len(result.witnesses) == 1
    assert result.openings_checked == 20
    assert "h3.example" not in bundle["entries"][3]["leaf"]


def test_one_changed_byte_in_an_entry_is_named(log_and_bundle: tuple[TransparencyLog, Any]) -> None:
    original = json.dumps(_fresh(log_and_bundle))
    for index in (0, 7, 19):
        bundle = json.loads(original)
        leaf = bundle["entries"][index]["leaf"]
        at = leaf.index('"n":') + 4
        bundle["entries"][index]["leaf"] = leaf[:at] + "9" + leaf[at + 1 :]
        result = verify_bundle(bundle)
        assert result.first_bad_entry == index
        assert result.problems == [
            f"entry {index}: not included in the signed tree (altered or replaced)"
        ]


def test_a_deleted_entry_is_named(log_and_bundle: tuple[TransparencyLog, Any]) -> None:
    bundle = _fresh(log_and_bundle)
    del bundle["entries"][9]
    result = verify_bundle(bundle)
    assert result.first_bad_entry == 9
    assert result.problems[0].startswith("entry 9: missing")
    # deleting the last one too
    bundle = _fresh(log_and_bundle)
    bundle["entries"].pop()
    assert verify_bundle(bundle).first_bad_entry == 19


def test_two_reordered_entries_are_named(log_and_bundle: tuple[TransparencyLog, Any]) -> None:
    bundle = _fresh(log_and_bundle)
    entries = bundle["entries"]
    entries[3], entries[4] = entries[4], entries[3]
    result = verify_bundle(bundle)
    assert result.first_bad_entry == 3
    assert "entry 3: missing" in result.problems[0] or "out of order" in result.problems[0]
    # renumbering the swapped entries does not help: their proofs no longer fit
    entries[3]["index"], entries[4]["index"] = 3, 4
    result = verify_bundle(bundle)
    assert result.first_bad_entry == 3
    assert result.problems[0] == "entry 3: not included in the signed tree (altered or replaced)"


def test_a_head_signed_by_another_key_is_refused(
    log_and_bundle: tuple[TransparencyLog, Any],
) -> None:
    log, _ = log_and_bundle
    bundle = _fresh(log_and_bundle)
    forged = sign_head(generate_private_key(), 20, 2_000, log.root(20))
    bundle["head"] = forged.to_dict()
    result = verify_bundle(bundle)
    assert not result.ok
    assert "not by the log key" in result.problems[0]
    # a whole bundle re-signed by another key fails against the pinned key
    other = generate_private_key()
    bundle = _fresh(log_and_bundle)
    bundle["log_public_key"] = base64.b64encode(public_key_bytes(other.public_key())).decode()
    bundle["head"] = sign_head(other, 20, 2_000, log.root(20)).to_dict()
    pinned = verify_bundle(bundle, public_key_bytes(LOG_KEY.public_key()))
    assert pinned.problems[0] == "the bundle's log key is not the key you pinned (--log-key)"


def test_two_heads_of_one_size_with_different_roots_are_a_split_view(
    log_and_bundle: tuple[TransparencyLog, Any],
) -> None:
    bundle = _fresh(log_and_bundle)
    forked = sign_head(LOG_KEY, 20, 1_500, bytes(32))
    bundle["earlier_heads"].append({"head": forked.to_dict(), "consistency": []})
    result = verify_bundle(bundle)
    assert result.problems == ["split view: head of size 20 is not consistent with head of size 20"]


def test_a_rewritten_earlier_head_is_named(log_and_bundle: tuple[TransparencyLog, Any]) -> None:
    bundle = _fresh(log_and_bundle)
    item = bundle["earlier_heads"][0]
    rewritten = sign_head(LOG_KEY, 8, 1_000, bytes(range(32)))
    item["head"] = rewritten.to_dict()
    result = verify_bundle(bundle)
    assert result.problems == [
        "rewritten history: head of size 8 is not consistent with head of size 20"
    ]


def test_a_false_disclosure_is_named(log_and_bundle: tuple[TransparencyLog, Any]) -> None:
    bundle = _fresh(log_and_bundle)
    bundle["entries"][5]["openings"][0]["value"] = "elsewhere.example"
    result = verify_bundle(bundle)
    assert result.first_bad_entry == 5
    assert result.problems == [
        "entry 5: disclosure host: the disclosed salt and value do not match the commitment"
    ]


def test_a_forged_cosignature_is_named(log_and_bundle: tuple[TransparencyLog, Any]) -> None:
    bundle = _fresh(log_and_bundle)
    sig = bundle["cosignatures"][0]["signature"]
    bundle["cosignatures"][0]["signature"] = ("A" if sig[0] != "A" else "B") + sig[1:]
    result = verify_bundle(bundle)
    assert len(result.problems) == 1
    assert "co-signature of head 20" in result.problems[0]


@pytest.mark.parametrize("drop", ["head", "entries", "log_public_key"])
def test_malformed_bundles_name_the_field(
    log_and_bundle: tuple[TransparencyLog, Any], drop: str
) -> None:
    bundle = _fresh(log_and_bundle)
    del bundle[drop]
    assert verify_bundle(bundle).problems == [f"bundle is malformed: missing field {drop!r}"]


def test_a_partial_range_verifies(log_and_bundle: tuple[TransparencyLog, Any]) -> None:
    log, full = log_and_bundle
    head = TreeHead.from_dict(full["head"])
    part = export_bundle(log, head, public_key_bytes(LOG_KEY.public_key()), 5, 12)
    assert verify_bundle(part).ok
    assert verify_bundle(part).entries_checked == 7
