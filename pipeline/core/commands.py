"""Commands on the commands topic (acknowledgements): signed, validated, audited.

Anyone who can write to Kafka could otherwise acknowledge any incident under any name, so a
command carries ``sig``, an HMAC-SHA256 over its other fields (canonical JSON, sorted keys)
under the deployment's command key (``CW_COMMAND_KEY``), shared only by the workers and the
issuers (the ingest API, the CLI). A command that is unsigned, signed with another key or
malformed is refused with a :class:`CommandRejected` naming the field, and the worker
dead-letters it instead of letting it reach an incident.

>>> signed = sign_command({"type": "acknowledge", "service_id": "s", "by": "ops", "at": 5.0},
...                       b"k")
>>> parse_command(orjson.dumps(signed), now=0.0, key=b"k").by
'ops'
>>> parse_command(orjson.dumps(signed), now=0.0, key=b"other")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
pipeline.core.commands.CommandRejected: bad_signature: sig: ...
"""

from __future__ import annotations

import hashlib
import hmac
import math
import unicodedata
from dataclasses import dataclass
from typing import Any

import orjson

#: How far in the future a command's ``at`` may be (clock skew between hosts).
MAX_FUTURE_SKEW_S = 60.0
MAX_AGE_S = 366 * 86400.0
MAX_BY_LENGTH = 128
MAX_ID_LENGTH = 256
MAX_COMMAND_BYTES = 4096
METHODS = frozenset({"cli", "api"})


class CommandRejected(ValueError):
    """A command that must not be applied; ``reason`` is a dead-letter/metric label."""

    def __init__(self, reason: str, field: str | None, detail: str) -> None:
        self.reason = reason
        self.field = field
        self.detail = detail
        where = f"{field}: " if field else ""
        super().__init__(f"{reason}: {where}{detail}")


@dataclass(frozen=True, slots=True)
class Acknowledge:
    """Acknowledge ``service_id``'s open incident, by whom, when and through what."""

    service_id: str
    by: str
    at: float
    method: str


def command_signature(command: dict[str, Any], key: bytes) -> str:
    """HMAC-SHA256 (hex) of ``command`` without its ``sig``, as canonical JSON."""
    body = orjson.dumps(
        {k: v for k, v in command.items() if k != "sig"}, option=orjson.OPT_SORT_KEYS
    )
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def sign_command(command: dict[str, Any], key: bytes) -> dict[str, Any]:
    """``command`` with its ``sig``."""
    return {**command, "sig": command_signature(command, key)}


def parse_command(raw: bytes | None, *, now: float, key: bytes | None) -> Acknowledge:
    """Decode, authenticate and validate command bytes; raises :class:`CommandRejected`.
    Without a ``key`` every command is refused: nothing proves who sent it."""
    if raw is None:
        raise CommandRejected("null_value", None, "the record has no value")
    if len(raw) > MAX_COMMAND_BYTES:
        raise CommandRejected("oversize", None, f"{len(raw)} bytes exceeds {MAX_COMMAND_BYTES}")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise CommandRejected("malformed_json", None, str(exc)) from None
    if not isinstance(data, dict):
        raise CommandRejected("not_an_object", None, "expected a JSON object")
    if key is None:
        raise CommandRejected("unsigned_command", "sig", "this worker has no CW_COMMAND_KEY")
    sig = data.get("sig")
    if not isinstance(sig, str):
        raise CommandRejected("unsigned_command", "sig", "commands must be signed (HMAC-SHA256)")
    if not hmac.compare_digest(sig, command_signature(data, key)):
        raise CommandRejected("bad_signature", "sig", "not signed with this deployment's key")
    return command_from_dict(data, now=now)


def command_from_dict(data: dict[str, Any], *, now: float) -> Acknowledge:
    """Validate a decoded command (see :func:`parse_command`)."""
    if data.get("type") != "acknowledge":
        raise CommandRejected("invalid_field", "type", "the only command is 'acknowledge'")
    service_id = identifier(data.get("service_id"), "service_id", MAX_ID_LENGTH)
    by = identifier(data.get("by"), "by", MAX_BY_LENGTH)
    method = data.get("method", "cli")
    if method not in METHODS:
        raise CommandRejected("invalid_field", "method", f"must be one of {sorted(METHODS)}")
    at = data.get("at")
    if isinstance(at, bool) or not isinstance(at, int | float) or not math.isfinite(at):
        raise CommandRejected("invalid_field", "at", "must be a number of seconds since the epoch")
    if at - now > MAX_FUTURE_SKEW_S:
        raise CommandRejected(
            "future_timestamp", "at", f"is {at - now:.0f} s in the future (max {MAX_FUTURE_SKEW_S})"
        )
    if now - at > MAX_AGE_S:
        raise CommandRejected("stale_timestamp", "at", f"is older than {MAX_AGE_S:.0f} s")
    return Acknowledge(service_id=service_id, by=by, at=float(at), method=str(method))


def identifier(value: object, name: str, max_length: int) -> str:
    """A non-empty printable string of at most ``max_length`` characters.

    Control characters (NUL, newline, ANSI escapes) and format characters (bidi marks)
    would let a value rewrite how logs and dashboards read, so they are refused.

    >>> identifier("ops\\u202e", "by", 10)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    pipeline.core.commands.CommandRejected: invalid_field: by: contains control or ... U+202E
    """
    if value is None:
        raise CommandRejected("missing_field", name, "is required")
    if not isinstance(value, str) or not value.strip():
        raise CommandRejected("invalid_field", name, "must be a non-empty string")
    if len(value) > max_length:
        raise CommandRejected("invalid_field", name, f"longer than {max_length} characters")
    for char in value:
        if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp"):
            raise CommandRejected(
                "invalid_field", name, f"contains control or format character U+{ord(char):04X}"
            )
    return value
