"""The dead-letter record: input that could not become an observation, with why and whence.

One type for the whole pipeline: connectors write it for feed bytes they cannot normalise,
the worker for bytes on the observations topic it cannot trust. Both land on one topic
(``cw.deadletter``) in one wire shape (documented in ``docs/deadletter.md``):

>>> letter = DeadLetter("malformed_json", None, "unexpected character", "worker", b"{oops",
...                     rejected_at=0.0, source_topic="cw.observations", source_partition=0,
...                     source_offset=7)
>>> wire = orjson.loads(letter.to_json())
>>> wire["reason"], wire["rejected_at"], wire["original_b64"], wire["source_offset"]
('malformed_json', '1970-01-01T00:00:00Z', 'e29vcHM=', 7)
>>> DeadLetter.from_dict(wire) == letter
True
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from pipeline.core.timeutil import format_rfc3339, parse_rfc3339

#: Original bytes a connector keeps in a dead-letter record; the rest is counted, not copied.
MAX_ORIGINAL_BYTES = 64 * 1024

#: Original bytes the worker keeps: its input is bounded by Kafka's message size, but base64
#: grows a copy by a third, so a copy of a near-limit record would not fit in its own message.
WORKER_MAX_ORIGINAL_BYTES = 256 * 1024

#: ``source`` of the records the worker writes (connectors write their feed id).
WORKER_SOURCE = "worker"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One refused input.

    ``source`` says who refused it: a feed id, ``push:<operator>`` for the ingest API, or
    ``worker``. ``source_topic/partition/offset`` locate bytes read from Kafka (the worker's
    refusals); they are None for bytes a connector fetched itself.
    """

    reason: str
    field: str | None
    detail: str
    source: str
    original: bytes = dataclasses.field(repr=False)
    rejected_at: float = 0.0
    #: Size of the whole input when ``original`` holds only part of it.
    original_size: int | None = None
    source_topic: str | None = None
    source_partition: int | None = None
    source_offset: int | None = None
    #: How much of ``original`` the record carries; None keeps it whole. A truncated copy
    #: carries the whole input's size and SHA-256, so it can still be matched to its source.
    keep_bytes: int | None = dataclasses.field(default=MAX_ORIGINAL_BYTES, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The wire form; the original is base64 (it may be binary), capped in size."""
        size = self.original_size if self.original_size is not None else len(self.original)
        kept = self.original if self.keep_bytes is None else self.original[: self.keep_bytes]
        return {
            "reason": self.reason,
            "field": self.field,
            "detail": self.detail,
            "source": self.source,
            "rejected_at": format_rfc3339(self.rejected_at),
            "source_topic": self.source_topic,
            "source_partition": self.source_partition,
            "source_offset": self.source_offset,
            "original_b64": base64.b64encode(kept).decode("ascii"),
            "original_size": size,
            "original_truncated": len(kept) < size,
            **(
                {"original_sha256": hashlib.sha256(self.original).hexdigest()}
                if len(kept) < len(self.original)
                else {}
            ),
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeadLetter:
        """Read a record back (for tools and tests that inspect the dead-letter topic)."""
        original = base64.b64decode(data["original_b64"])
        size = data.get("original_size")
        return cls(
            reason=data["reason"],
            field=data.get("field"),
            detail=data.get("detail", ""),
            source=data.get("source", ""),
            original=original,
            rejected_at=parse_rfc3339(data["rejected_at"]),
            original_size=size if size != len(original) else None,
            source_topic=data.get("source_topic"),
            source_partition=data.get("source_partition"),
            source_offset=data.get("source_offset"),
        )


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
    max_original: int = WORKER_MAX_ORIGINAL_BYTES,
) -> bytes:
    """JSON bytes of the worker's record for ``raw`` read at ``topic``/``partition``/``offset``.

    The input is kept exactly up to ``max_original`` bytes; a longer one is truncated and the
    record carries ``original_truncated``, ``original_size`` and ``original_sha256``.

    >>> record = orjson.loads(dead_letter_record(b"abcdef", reason="oversize", field=None,
    ...     detail="", topic="t", partition=0, offset=1, at=0.0, max_original=2))
    >>> record["original_b64"], record["original_truncated"], record["original_size"]
    ('YWI=', True, 6)
    """
    return DeadLetter(
        reason,
        field,
        detail,
        WORKER_SOURCE,
        raw,
        rejected_at=at,
        source_topic=topic,
        source_partition=partition,
        source_offset=offset,
        keep_bytes=max_original,
    ).to_json()
