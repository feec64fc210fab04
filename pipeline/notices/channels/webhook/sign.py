"""Webhook signatures: HMAC-SHA256 over ``<timestamp>.<body>``, like Stripe's scheme.

Headers: ``X-Continuity-Timestamp`` (Unix seconds) and ``X-Continuity-Signature``
(``v1=<hex>``). A receiver recomputes the MAC and rejects timestamps older than 5 minutes,
so a captured request cannot be replayed later:

>>> sig = signature(b"key", 1700000000, b'{"a":1}')
>>> verify(b"key", sig, "1700000000", b'{"a":1}', now=1700000100.0)
True
>>> verify(b"key", sig, "1700000000", b'{"a":1}', now=1700000400.0)  # replay after 6.7 min
False
"""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP_HEADER = "X-Continuity-Timestamp"
SIGNATURE_HEADER = "X-Continuity-Signature"
NOTICE_ID_HEADER = "X-Continuity-Notice-Id"
#: Receivers reject signatures older (or further in the future) than this.
REPLAY_TOLERANCE_S = 300.0


def signature(key: bytes, timestamp: int, body: bytes) -> str:
    """``v1=`` + hex HMAC-SHA256 of ``b"<timestamp>." + body``."""
    mac = hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"v1={mac}"


def verify(
    key: bytes,
    header: str,
    timestamp: str,
    body: bytes,
    *,
    now: float,
    tolerance_s: float = REPLAY_TOLERANCE_S,
) -> bool:
    """What a receiver does: constant-time MAC check plus the replay window."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent) > tolerance_s:
        return False
    return hmac.compare_digest(signature(key, sent, body), header)
