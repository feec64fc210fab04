"""Ed25519 keys for signing tree heads and co-signing them: from a PEM file or an env variable.

A key is never logged or echoed: errors name where the key was looked for, not its content.

>>> key = generate_private_key()
>>> len(public_key_bytes(key.public_key())), len(key_id(key.public_key()))
(32, 64)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


class KeyLoadError(ValueError):
    """A key that could not be loaded; the message says where it was looked for."""


def generate_private_key() -> Ed25519PrivateKey:
    """A fresh Ed25519 private key."""
    return Ed25519PrivateKey.generate()


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    """PKCS#8 PEM, unencrypted (protect the file with permissions)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def write_private_key(path: Path, key: Ed25519PrivateKey) -> None:
    """Write a new key file readable by its owner only; refuses to overwrite one."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(private_key_pem(key))


def public_key_bytes(key: Ed25519PublicKey) -> bytes:
    """The raw 32-byte public key."""
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_from_bytes(raw: bytes) -> Ed25519PublicKey:
    """Inverse of :func:`public_key_bytes`."""
    if len(raw) != 32:
        raise KeyLoadError(f"an Ed25519 public key is 32 bytes, got {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


def key_id(key: Ed25519PublicKey) -> str:
    """Hex SHA-256 of the raw public key: how heads and co-signatures name their signer."""
    return hashlib.sha256(public_key_bytes(key)).hexdigest()


def load_private_key(
    path: str | None, env: Mapping[str, str], env_name: str = "CW_LEDGER_KEY"
) -> Ed25519PrivateKey:
    """The signing key from ``path`` (PEM) or else ``env[env_name]`` (PEM or base64 raw seed)."""
    if path:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise KeyLoadError(f"cannot read the signing key file {path}: {exc.strerror}") from None
        return _parse_private(data, f"key file {path}")
    text = env.get(env_name, "")
    if not text:
        raise KeyLoadError(
            f"no signing key: pass --key-file or set {env_name} "
            "(create one with: continuity ledger keygen FILE)"
        )
    return _parse_private(text.encode(), f"environment variable {env_name}")


def _parse_private(data: bytes, where: str) -> Ed25519PrivateKey:
    if b"-----BEGIN" in data:
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError):
            raise KeyLoadError(f"{where} is not an unencrypted PEM private key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyLoadError(f"{where} holds a {type(key).__name__}, not an Ed25519 key")
        return key
    try:
        seed = base64.b64decode(data.strip(), validate=True)
    except binascii.Error:
        raise KeyLoadError(f"{where} is neither PEM nor base64") from None
    if len(seed) != 32:
        raise KeyLoadError(f"{where}: a base64 Ed25519 seed is 32 bytes, got {len(seed)}")
    return Ed25519PrivateKey.from_private_bytes(seed)


def load_public_key(path: str) -> Ed25519PublicKey:
    """A public key from a PEM file or a file holding the base64 raw key."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise KeyLoadError(f"cannot read the public key file {path}: {exc.strerror}") from None
    if b"-----BEGIN" in data:
        key = serialization.load_pem_public_key(data)
        if not isinstance(key, Ed25519PublicKey):
            raise KeyLoadError(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
        return key
    return public_key_from_bytes(base64.b64decode(data.strip()))


def public_key_pem(key: Ed25519PublicKey) -> bytes:
    """SubjectPublicKeyInfo PEM of a public key."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
