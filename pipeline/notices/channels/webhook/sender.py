"""POST a signed notice; classify the outcome so the dispatcher knows whether to retry.

5xx, 408, 429, timeouts and connection errors are retried; other 4xx and redirect loops are
not (the next attempt would fail the same way). The response body is never read beyond
64 KiB, so an endpoint answering with megabytes costs nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import aiohttp
import orjson

from pipeline.notices.channels.base import DeliveryError, resolve_secret
from pipeline.notices.channels.webhook.config import WebhookConfig
from pipeline.notices.channels.webhook.sign import (
    NOTICE_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature,
)
from pipeline.notices.notice import Notice

_RETRYABLE_4XX = frozenset({408, 425, 429})
_READ_LIMIT = 64 * 1024


class WebhookSender:
    """One subscriber's webhook (its own session, so its connections are its own)."""

    def __init__(self, config: WebhookConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self._session: aiohttp.ClientSession | None = None

    async def send(self, notice: Notice) -> str:
        key = resolve_secret(self.config.secret, "signing key").encode()
        body = orjson.dumps(notice.to_dict())
        timestamp = int(self.clock())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "continuity-watch-notifier/1",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: signature(key, timestamp, body),
            NOTICE_ID_HEADER: notice.notice_id,
        }
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.config.delivery.timeout_s)
            )
        try:
            async with self._session.post(
                self.config.url,
                data=body,
                headers=headers,
                max_redirects=self.config.max_redirects,
            ) as response:
                await response.content.read(_READ_LIMIT)
                status = response.status
        except aiohttp.TooManyRedirects:
            raise DeliveryError(
                f"more than {self.config.max_redirects} redirects", retryable=False
            ) from None
        except TimeoutError:
            raise DeliveryError(f"no answer within {self.config.delivery.timeout_s:g} s") from None
        except aiohttp.ClientError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}"[:300]) from None
        if 200 <= status < 300:
            return f"HTTP {status}"
        retryable = status >= 500 or status in _RETRYABLE_4XX
        raise DeliveryError(f"HTTP {status}", retryable=retryable)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
