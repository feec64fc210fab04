"""The ring of a service's recently seen event ids, kept as 64-bit hashes.

A redelivered observation (same ``event_id``) must be dropped; the worker remembers the
last :data:`~pipeline.monitoring.status.RECENT_EVENT_IDS` ids of each service for that.
Kept as strings they cost about 2 KB per live monitor (32 ``str`` objects and a tuple)
and 0.5 to 1.3 KB per changelog record, depending on the ids' length. Here the ring is one
``bytes`` of 8-byte BLAKE2b digests, oldest first (256 bytes when full), and one base64
string in the changelog record (344 characters when full), whatever the ids look like.

Collisions: an observation is wrongly taken for a duplicate only if its id's 64-bit digest
equals one of the at most 32 digests remembered for the *same* service: probability
≤ 32 / 2**64 ≈ 1.7e-18 per observation, about 1e-6 over a year of a million services
observed once a minute (5e11 observations). BLAKE2b is stable across processes and
machines (unlike ``hash()``), so a restored or rebalanced ring matches new deliveries, and
crafting an id that collides with another id of the same service takes ≈ 2**64 work.

>>> ring = remember(b"", digest("e1"))
>>> ring = remember(ring, digest("e2"), limit=2)
>>> seen(ring, digest("e1")), seen(ring, digest("e3")), count(ring)
(True, False, 2)
>>> ring = remember(ring, digest("e3"), limit=2)
>>> seen(ring, digest("e1")), count(ring)
(False, 2)
>>> from_stored(to_stored(ring)) == ring
True
>>> from_stored(["e2", "e3"]) == ring  # a record written before the ring was hashed
True
"""

from __future__ import annotations

import base64
import binascii
from hashlib import blake2b
from typing import Any

#: Bytes per remembered id.
DIGEST_BYTES = 8


def digest(event_id: str) -> bytes:
    """The 8-byte digest an event id is remembered by."""
    return blake2b(event_id.encode(), digest_size=DIGEST_BYTES).digest()


def seen(ring: bytes, key: bytes) -> bool:
    """Whether ``key`` (a :func:`digest`) is one of the ring's digests.

    Only matches at digest boundaries count (a match straddling two digests is not one):

    >>> seen(b"abcdefgh12345678", b"efgh1234"), seen(b"abcdefgh12345678", b"12345678")
    (False, True)
    """
    at = ring.find(key)
    while at >= 0:
        if at % DIGEST_BYTES == 0:
            return True
        at = ring.find(key, at + 1)
    return False


def remember(ring: bytes, key: bytes, *, limit: int = 32) -> bytes:
    """The ring with ``key`` appended, keeping the newest ``limit`` digests."""
    keep = (limit - 1) * DIGEST_BYTES
    if len(ring) > keep:
        ring = ring[len(ring) - keep :]
    return ring + key


def count(ring: bytes) -> int:
    """Digests in the ring."""
    return len(ring) // DIGEST_BYTES


def of_ids(event_ids: Any) -> bytes:
    """A ring of the given event ids, oldest first."""
    return b"".join(digest(str(event_id)) for event_id in event_ids)


def to_stored(ring: bytes) -> str:
    """The ring as it goes into a changelog record: base64 of the digests."""
    return binascii.b2a_base64(ring, newline=False).decode("ascii")  # b64encode without its wrapper


def from_stored(value: Any) -> bytes:
    """The ring from a changelog record: base64 (:func:`to_stored`), or the list of event
    id strings records held before the ring was hashed (hashed here: the ring then still
    drops a redelivery of those ids). Raises ``ValueError`` on anything else.

    >>> from_stored(None), from_stored("")
    (b'', b'')
    >>> from_stored("not base64!")
    Traceback (most recent call last):
    ...
    ValueError: recent_id_hashes: not base64 of 8-byte digests: 'not base64!'
    """
    if value is None:
        return b""
    if isinstance(value, list | tuple):
        return of_ids(value)
    if isinstance(value, str):
        try:
            ring = base64.b64decode(value, validate=True)
        except binascii.Error:
            ring = b"\0"  # rejected below
        if len(ring) % DIGEST_BYTES == 0:
            return ring
    raise ValueError(f"recent_id_hashes: not base64 of 8-byte digests: {value!r}")
