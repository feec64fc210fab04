"""What every channel sender is: ``send(notice)`` returns a detail or raises DeliveryError."""

from __future__ import annotations

from typing import Protocol

from pipeline.notices.notice import Notice
from pipeline.notices.secrets import SecretRef, SecretUnavailableError


class DeliveryError(Exception):
    """A failed attempt; ``retryable`` says whether trying again may help."""

    def __init__(self, detail: str, *, retryable: bool = True) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retryable = retryable


def resolve_secret(secret: SecretRef, what: str) -> str:
    """The secret's value for one attempt. One that cannot be read fails the attempt for good
    (retrying will not make it appear); the message names what it is for, never the value."""
    try:
        return secret.resolve()
    except SecretUnavailableError as exc:
        raise DeliveryError(f"{what} unavailable: {exc}", retryable=False) from None


class Sender(Protocol):
    """One channel of one subscriber."""

    async def send(self, notice: Notice) -> str:
        """Deliver ``notice``; return what the peer said (e.g. ``HTTP 204``)."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
