"""Signed tree heads (STH) and witnesses' co-signatures, Ed25519.

The signed message is fixed-width binary so that no JSON canonicalisation is involved:
``b"continuity-watch/tree-head/v1\\n" || uint64 tree_size || uint64 timestamp_ms || root``
(big-endian, root 32 bytes). A co-signature signs
``b"continuity-watch/cosignature/v1\\n" || log key id (32 bytes) || the head message``, so a
witness vouches for one head of one log.

>>> from pipeline.transparency.keys import generate_private_key
>>> key = generate_private_key()
>>> head = sign_head(key, 3, 1700000000000, bytes(32))
>>> check_head(head, key.public_key()) is None
True
>>> check_head(head, generate_private_key().public_key())  # doctest: +ELLIPSIS
'tree head of size 3 is signed by key ... not by the log key ...'
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from pipeline.transparency.keys import key_id, public_key_bytes, public_key_from_bytes

HEAD_CONTEXT = b"continuity-watch/tree-head/v1\n"
COSIGN_CONTEXT = b"continuity-watch/cosignature/v1\n"
REFUSAL_CONTEXT = b"continuity-watch/refusal/v1\n"


@dataclass(frozen=True, slots=True)
class TreeHead:
    """A signed tree head: the log of ``tree_size`` entries had ``root`` at ``timestamp_ms``."""

    tree_size: int
    timestamp_ms: int
    root: bytes
    key_id: str
    signature: bytes

    def message(self) -> bytes:
        """The bytes the log signed."""
        return head_message(self.tree_size, self.timestamp_ms, self.root)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (hashes and signatures base64)."""
        return {
            "tree_size": self.tree_size,
            "timestamp_ms": self.timestamp_ms,
            "root_hash": _b64(self.root),
            "key_id": self.key_id,
            "signature": _b64(self.signature),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TreeHead:
        """Inverse of :meth:`to_dict`; raises ``ValueError`` naming a bad field."""
        try:
            return cls(
                int(d["tree_size"]),
                int(d["timestamp_ms"]),
                _unb64(d["root_hash"], "root_hash"),
                str(d["key_id"]),
                _unb64(d["signature"], "signature"),
            )
        except KeyError as exc:
            raise ValueError(f"tree head is missing the field {exc.args[0]}") from None


@dataclass(frozen=True, slots=True)
class Cosignature:
    """A witness's signature over one log's head (identified by size, timestamp, root)."""

    tree_size: int
    timestamp_ms: int
    root: bytes
    witness_key: bytes  # raw 32-byte public key, so a verifier can check it and pick whom to trust
    signature: bytes

    @property
    def witness_id(self) -> str:
        """Key id of the witness."""
        return key_id(public_key_from_bytes(self.witness_key))

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "tree_size": self.tree_size,
            "timestamp_ms": self.timestamp_ms,
            "root_hash": _b64(self.root),
            "witness_key": _b64(self.witness_key),
            "witness_id": self.witness_id,
            "signature": _b64(self.signature),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Cosignature:
        """Inverse of :meth:`to_dict`."""
        try:
            return cls(
                int(d["tree_size"]),
                int(d["timestamp_ms"]),
                _unb64(d["root_hash"], "root_hash"),
                _unb64(d["witness_key"], "witness_key"),
                _unb64(d["signature"], "signature"),
            )
        except KeyError as exc:
            raise ValueError(f"co-signature is missing the field {exc.args[0]}") from None


def head_message(tree_size: int, timestamp_ms: int, root: bytes) -> bytes:
    """The fixed-width bytes a tree head signature covers."""
    if len(root) != 32:
        raise ValueError(f"root hash must be 32 bytes, got {len(root)}")
    return HEAD_CONTEXT + struct.pack(">QQ", tree_size, timestamp_ms) + root


def sign_head(key: Ed25519PrivateKey, tree_size: int, timestamp_ms: int, root: bytes) -> TreeHead:
    """Sign a tree head with the log's key."""
    signature = key.sign(head_message(tree_size, timestamp_ms, root))
    return TreeHead(tree_size, timestamp_ms, root, key_id(key.public_key()), signature)


def check_head(head: TreeHead, log_key: Ed25519PublicKey) -> str | None:
    """None if ``head`` is signed by ``log_key``; otherwise why not."""
    expected = key_id(log_key)
    if head.key_id != expected:
        return (
            f"tree head of size {head.tree_size} is signed by key {head.key_id[:16]}..., "
            f"not by the log key {expected[:16]}..."
        )
    try:
        log_key.verify(head.signature, head.message())
    except InvalidSignature:
        return f"tree head of size {head.tree_size} has a signature that does not verify"
    return None


def cosign(witness: Ed25519PrivateKey, log_key_id: str, head: TreeHead) -> Cosignature:
    """A witness's co-signature over ``head`` of the log named by ``log_key_id``."""
    signature = witness.sign(cosign_message(log_key_id, head))
    raw = public_key_bytes(witness.public_key())
    return Cosignature(head.tree_size, head.timestamp_ms, head.root, raw, signature)


def cosign_message(log_key_id: str, head: TreeHead) -> bytes:
    """The bytes a co-signature covers."""
    return (
        COSIGN_CONTEXT
        + bytes.fromhex(log_key_id)
        + head_message(head.tree_size, head.timestamp_ms, head.root)
    )


def check_cosignature(cosig: Cosignature, log_key_id: str) -> str | None:
    """None if the co-signature verifies under the witness key it carries; otherwise why not."""
    head = TreeHead(cosig.tree_size, cosig.timestamp_ms, cosig.root, log_key_id, b"")
    try:
        public_key_from_bytes(cosig.witness_key).verify(
            cosig.signature, cosign_message(log_key_id, head)
        )
    except (InvalidSignature, ValueError):
        return f"co-signature of head {cosig.tree_size} by {cosig.witness_key.hex()[:16]}... is bad"
    return None


@dataclass(frozen=True, slots=True)
class Refusal:
    """A witness's signed statement that it refused ``head`` of the log it pins (``log_key_id``).

    The signature covers ``REFUSAL_CONTEXT || log key id || head message || reason (UTF-8)``,
    so a log that serves it cannot alter the reason or the head without the witness's key.
    """

    log_key_id: str
    head: TreeHead
    reason: str
    witness_key: bytes
    signature: bytes

    @property
    def witness_id(self) -> str:
        """Key id of the witness."""
        return key_id(public_key_from_bytes(self.witness_key))

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "log_key_id": self.log_key_id,
            "head": self.head.to_dict(),
            "reason": self.reason,
            "witness_key": _b64(self.witness_key),
            "witness_id": self.witness_id,
            "signature": _b64(self.signature),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Refusal:
        """Inverse of :meth:`to_dict`; raises ``ValueError`` naming a bad field."""
        try:
            head = d["head"]
            if not isinstance(head, dict):
                raise ValueError("head must be an object")
            return cls(
                str(d["log_key_id"]),
                TreeHead.from_dict(head),
                str(d["reason"])[:500],
                _unb64(d["witness_key"], "witness_key"),
                _unb64(d["signature"], "signature"),
            )
        except KeyError as exc:
            raise ValueError(f"refusal is missing the field {exc.args[0]}") from None


def refusal_message(log_key_id: str, head: TreeHead, reason: str) -> bytes:
    """The bytes a refusal signature covers."""
    return REFUSAL_CONTEXT + bytes.fromhex(log_key_id) + head.message() + reason.encode()


def sign_refusal(
    witness: Ed25519PrivateKey, log_key_id: str, head: TreeHead, reason: str
) -> Refusal:
    """A witness's signed refusal of ``head``.

    >>> from pipeline.transparency.keys import generate_private_key
    >>> log_key, witness = generate_private_key(), generate_private_key()
    >>> head = sign_head(log_key, 3, 1, bytes(32))
    >>> refusal = sign_refusal(witness, head.key_id, head, "split view")
    >>> check_refusal(refusal) is None
    True
    >>> check_refusal(Refusal.from_dict({**refusal.to_dict(), "reason": "fine"}))
    ... # doctest: +ELLIPSIS
    'refusal of head 3 by ... does not verify'
    """
    signature = witness.sign(refusal_message(log_key_id, head, reason))
    raw = public_key_bytes(witness.public_key())
    return Refusal(log_key_id, head, reason, raw, signature)


def check_refusal(refusal: Refusal) -> str | None:
    """None if the refusal verifies under the witness key it carries; otherwise why not."""
    try:
        message = refusal_message(refusal.log_key_id, refusal.head, refusal.reason)
        public_key_from_bytes(refusal.witness_key).verify(refusal.signature, message)
    except (InvalidSignature, ValueError):
        return (
            f"refusal of head {refusal.head.tree_size} by "
            f"{refusal.witness_key.hex()[:16]}... does not verify"
        )
    return None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any, field: str) -> bytes:
    try:
        return base64.b64decode(str(text), validate=True)
    except ValueError:
        raise ValueError(f"{field} is not base64") from None
