"""Command validation: every field bounded, named when refused."""

from __future__ import annotations

import orjson
import pytest

from pipeline.core.commands import CommandRejected, parse_command, sign_command

NOW = 1_700_000_000.0
KEY = b"test-key"


def ack(**fields: object) -> bytes:
    data: dict[str, object] = {"type": "acknowledge", "service_id": "s", "by": "ops", "at": NOW}
    data.update(fields)
    return orjson.dumps(sign_command({k: v for k, v in data.items() if v is not None}, KEY))


def test_valid_acknowledgement() -> None:
    command = parse_command(ack(method="api"), now=NOW, key=KEY)
    assert (command.service_id, command.by, command.at, command.method) == ("s", "ops", NOW, "api")


@pytest.mark.parametrize(
    ("raw", "reason", "field"),
    [
        (None, "null_value", None),
        (b"{", "malformed_json", None),
        (b"[]", "not_an_object", None),
        (ack(type="delete"), "invalid_field", "type"),
        (ack(at="abc"), "invalid_field", "at"),
        (ack(at=True), "invalid_field", "at"),
        (ack(at=NOW + 86400 * 365 * 70), "future_timestamp", "at"),
        (ack(at=NOW - 86400 * 400), "stale_timestamp", "at"),
        (ack(by=None), "missing_field", "by"),
        (ack(by="x" * 129), "invalid_field", "by"),
        (ack(by="\x1b[31mroot"), "invalid_field", "by"),
        (ack(by="ops\u202e"), "invalid_field", "by"),
        (ack(service_id=7), "invalid_field", "service_id"),
        (ack(method="magic"), "invalid_field", "method"),
        (ack(by="x" * 5000), "oversize", None),
        (
            orjson.dumps({"type": "acknowledge", "service_id": "s", "by": "ops", "at": NOW}),
            "unsigned_command",
            "sig",
        ),
        (ack(by="ops").replace(b'"ops"', b'"root"'), "bad_signature", "sig"),
    ],
)
def test_refusals_name_reason_and_field(raw: bytes | None, reason: str, field: str | None) -> None:
    with pytest.raises(CommandRejected) as caught:
        parse_command(raw, now=NOW, key=KEY)
    assert (caught.value.reason, caught.value.field) == (reason, field)


def test_without_a_key_every_command_is_refused() -> None:
    with pytest.raises(CommandRejected) as caught:
        parse_command(ack(), now=NOW, key=None)
    assert caught.value.reason == "unsigned_command"
