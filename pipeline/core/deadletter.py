"""Dead-letter records: the rejected bytes, untouched, with the reason and where they came from.

>>> import orjson
>>> record = orjson.loads(dead_letter_record(b"{oops", reason="malformed_json", field=None,
...     detail="unexpected character", topic="cw.observations", partition=0, offset=7, at=0.0))
>>> record["reason"], record["original_b64"]
('malformed_json', 'e29vcHM=')
"""

from __future__ import annotations

import base64

import orjson

from pipeline.core.timeutil import format_rfc3339


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
) -> bytes:
    """JSON bytes for the dead-letter topic; ``original_b64`` holds the input exactly."""
    return orjson.dumps(
        {
            "reason": reason,
            "field": field,
            "detail": detail,
            "source_topic": topic,
            "source_partition": partition,
            "source_offset": offset,
            "rejected_at": format_rfc3339(at),
            "original_b64": base64.b64encode(raw).decode("ascii"),
        }
    )
