"""The verifiable-record block from the log's API answers, and its publish.yaml section."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.publish.config import PublishConfigError, parse_publish_config
from pipeline.publish.record import summarize_record, unreachable_record

NOW = 1_700_000_100.0
HEAD = {"head": {"tree_size": 100, "timestamp_ms": 1_700_000_000_000}}


def _witness(wid: str, size: int | None, refusals: int = 0) -> dict[str, Any]:
    last = {"reason": "rollback", "received_ms": 1_700_000_050_000} if refusals else None
    return {"witness_id": wid * 32, "cosigned_size": size, "refusals": refusals,
            "last_refusal": last}  # fmt: skip


def test_counts_cosigners_of_the_latest_size_and_refusing_witnesses() -> None:
    body = {"witnesses": [_witness("aa", 100), _witness("bb", 90), _witness("cc", None, 3)]}
    block = summarize_record(HEAD, body, NOW)
    assert block["state"] == "ok"
    assert block["tree_size"] == 100
    assert block["head_time"] == "2023-11-14T22:13:20Z"
    assert block["head_age_s"] == 100.0
    assert (block["witnesses_known"], block["cosigned_latest"]) == (3, 1)
    assert (block["witnesses_refusing"], block["refusals"]) == (1, 3)
    assert [w["behind"] for w in block["witnesses"]] == [0, 10, None]
    assert block["witnesses"][2]["last_refusal_reason"] == "rollback"
    assert block["witnesses"][2]["last_refusal_at"] == "2023-11-14T22:14:10Z"


def test_trusted_witnesses_restrict_what_counts() -> None:
    body = {"witnesses": [_witness("aa", 100), _witness("cc", None, 3)]}
    block = summarize_record(HEAD, body, NOW, trusted=("cccccccc",))
    assert (block["witnesses_known"], block["cosigned_latest"], block["refusals"]) == (1, 0, 3)


def test_a_log_without_a_head_yet_is_empty_not_an_error() -> None:
    block = summarize_record(None, {"witnesses": []}, NOW)
    assert (block["state"], block["tree_size"]) == ("empty", None)


@pytest.mark.parametrize(
    ("head", "witnesses", "field"),
    [
        ({}, {"witnesses": []}, "head"),
        ({"head": {"tree_size": -1, "timestamp_ms": 0}}, {"witnesses": []}, "tree_size"),
        (HEAD, {}, "witnesses"),
        (HEAD, {"witnesses": [{"cosigned_size": 3}]}, "witness_id"),
        (HEAD, {"witnesses": [{"witness_id": "a", "refusals": "x"}]}, "refusals"),
    ],
)
def test_an_answer_that_is_not_the_logs_api_is_refused_naming_the_field(
    head: dict[str, Any], witnesses: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValueError, match=field):
        summarize_record(head, witnesses, NOW)


def test_unreachable_keeps_the_last_known_state_only_when_there_was_one() -> None:
    ok = summarize_record(HEAD, {"witnesses": [_witness("aa", 100)]}, NOW)
    block = unreachable_record(NOW + 5, ok)
    assert block["state"] == "unreachable"
    assert block["tree_size"] is None
    assert block["last_known"]["tree_size"] == 100
    assert "last_known" not in unreachable_record(NOW, unreachable_record(NOW, None))


def test_transparency_section_of_publish_config() -> None:
    cfg = parse_publish_config(
        {"version": 1, "transparency": {"api_url": "http://127.0.0.1:8470/", "timeout_s": 1.5,
                                        "trusted_witnesses": ["0123abcd"]}}
    )  # fmt: skip
    assert cfg.record_source is not None
    assert cfg.record_source.api_url == "http://127.0.0.1:8470"
    assert cfg.record_source.trusted_witnesses == ("0123abcd",)
    assert parse_publish_config({"version": 1}).record_source is None


@pytest.mark.parametrize(
    ("section", "field"),
    [
        ({"api_url": "ftp://x"}, "transparency.api_url"),
        ({"api_url": "http://x", "timeout_s": 0}, "transparency.timeout_s"),
        ({"api_url": "http://x", "trusted_witnesses": ["Z"]}, "transparency.trusted_witnesses"),
        ({"api_url": "http://x", "url": "y"}, "transparency.url"),
    ],
)
def test_bad_transparency_section_is_named(section: dict[str, Any], field: str) -> None:
    with pytest.raises(PublishConfigError, match=field):
        parse_publish_config({"version": 1, "transparency": section})
