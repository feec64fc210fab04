"""Dead-letter records: the rejected bytes, untouched, with the reason and where they came from.

A copy that would not fit in one Kafka message (base64 grows it by a third) is truncated to
``max_original`` bytes and carries the original's size and SHA-256 instead, so one huge record
can never make its own dead letter unsendable.

>>> import orjson
>>> record = orjson.loads(dead_letter_record(b"{oops", reason="malformed_json", field=None,
...     detail="unexpected character", topic="cw.observations", partition=0, offset=7, at=0.0))
>>> record["reason"], record["original_b64"]
('malformed_json', 'e29vcHM=')
"""

from __future__ import annotations

import base64
import hashlib

import orjson

from pipeline.core.timeutil import format_rfc3339

#: Original bytes kept in a dead letter: its base64 (4/3 larger) stays far below Kafka's
#: default 1 MB message limit.
MAX_ORIGINAL_BYTES = 256 * 1024


def dead_letter_record(
    raw: bytes,
    *,
    reason: str,
    field: str | None,
    detail: str,
    topic: str,
    partition: int | None,
    offset: int | None,
    at: float,
    max_original: int = MAX_ORIGINAL_BYTES,
) -> bytes:
    """JSON bytes for the dead-letter topic; ``original_b64`` holds the input exactly, or its
    first ``max_original`` bytes with ``original_truncated``, ``original_size`` and
    ``original_sha256`` when it is longer.

    >>> record = orjson.loads(dead_letter_record(b"abcdef", reason="oversize", field=None,
    ...     detail="", topic="t", partition=0, offset=1, at=0.0, max_original=2))
    >>> record["original_b64"], record["original_truncated"], record["original_size"]
    ('YWI=', True, 6)
    """
    kept = raw[:max_original]
    extra: dict[str, object] = {}
    if len(kept) < len(raw):
        extra = {
            "original_truncated": True,
            "original_size": len(raw),
            "original_sha256": hashlib.sha256(raw).hexdigest(),
        }
    return orjson.dumps(
        {
            "reason": reason,
            "field": field,
            "detail": detail,
            "source_topic": topic,
            "source_partition": partition,
            "source_offset": offset,
            "rejected_at": format_rfc3339(at),
            "original_b64": base64.b64encode(kept).decode("ascii"),
            **extra,
        }
    )
