"""Witnesses' signed refusals: checked, stored once, altered ones rejected."""

from __future__ import annotations

import pytest

from pipeline.transparency.heads import Refusal, check_refusal, sign_head, sign_refusal
from pipeline.transparency.keys import generate_private_key
from pipeline.transparency.redaction import RedactionPolicy
from tests.support.postgres import LedgerBackend


def test_a_refusal_is_stored_once_and_read_back(ledger_backend: LedgerBackend) -> None:
    log_key, witness = generate_private_key(), generate_private_key()
    head = sign_head(log_key, 7, 1_000, bytes(32))
    refusal = sign_refusal(witness, head.key_id, head, "rollback: the log shrank from 9 to 7")
    store = ledger_backend.open(RedactionPolicy()).store
    store.add_refusal(refusal, 5_000)
    store.add_refusal(refusal, 6_000)  # the same poll result handed in again
    ((received, back),) = store.refusals()
    assert received == 5_000
    assert back == refusal
    assert check_refusal(back) is None


@pytest.mark.parametrize("field", ["reason", "log_key_id", "head"])
def test_an_altered_refusal_does_not_verify(field: str) -> None:
    log_key, witness = generate_private_key(), generate_private_key()
    head = sign_head(log_key, 7, 1_000, bytes(32))
    body = sign_refusal(witness, head.key_id, head, "split view").to_dict()
    if field == "reason":
        body["reason"] = "all fine"
    elif field == "log_key_id":
        body["log_key_id"] = "00" * 32
    else:
        body["head"] = sign_head(log_key, 8, 1_000, bytes(32)).to_dict()
    assert check_refusal(Refusal.from_dict(body)) is not None


def test_a_refusal_without_its_head_is_named() -> None:
    with pytest.raises(ValueError, match="head"):
        Refusal.from_dict({"log_key_id": "00", "reason": "x", "witness_key": "", "signature": ""})
