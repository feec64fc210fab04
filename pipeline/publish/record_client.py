"""Reads the transparency log's HTTP API for the status page (glue around
:mod:`pipeline.publish.record`): at most one read per TTL, concurrent requests share it, and
an unreachable or malformed log gives an "unreachable" block instead of an error page. Only
the first request waits for the log; after that an expired block is served while one
background read replaces it, so a slow or unreachable log does not slow the page (the block
is stale by at most TTL + one read).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import structlog

from pipeline.publish.config import RecordSourceConfig
from pipeline.publish.record import summarize_record, unreachable_record

log = structlog.get_logger(__name__)


class RecordSource:
    """The latest verifiable-record block, re-read from the log at most every ``ttl_s``."""

    def __init__(
        self,
        config: RecordSourceConfig,
        ttl_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config, self.ttl_s, self.clock = config, ttl_s, clock
        self._block: dict[str, Any] | None = None
        self._last_ok: dict[str, Any] | None = None
        self._read_at = float("-inf")
        self._lock = asyncio.Lock()
        self._refreshing: asyncio.Task[None] | None = None

    async def current(self) -> dict[str, Any]:
        """The block; the first call reads the log, later ones refresh it in the background
        once it is older than the TTL."""
        if self._block is None:
            async with self._lock:
                if self._block is None:
                    await self._refresh()
        elif self.clock() - self._read_at >= self.ttl_s and self._refreshing is None:
            self._refreshing = asyncio.ensure_future(self._refresh())
        assert self._block is not None
        return self._block

    async def _refresh(self) -> None:
        try:
            self._block = await self._read()
            self._read_at = self.clock()
        finally:
            self._refreshing = None

    async def _read(self) -> dict[str, Any]:
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_s)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as http:
                head = await _get(http, f"{self.config.api_url}/ledger/v1/head", none_on_404=True)
                witnesses = await _get(http, f"{self.config.api_url}/ledger/v1/witnesses")
            assert witnesses is not None  # only the head may be absent (404: no head yet)
            block = summarize_record(head, witnesses, self.clock(), self.config.trusted_witnesses)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            # The URL may be internal: it goes to the log, never to the page.
            log.warning("transparency_log_unreachable", url=self.config.api_url, error=str(exc))
            return unreachable_record(self.clock(), self._last_ok)
        self._last_ok = block
        return block


async def _get(
    http: aiohttp.ClientSession, url: str, *, none_on_404: bool = False
) -> dict[str, Any] | None:
    async with http.get(url) as response:
        if response.status == 404 and none_on_404:
            return None
        if response.status != 200:
            raise ValueError(f"{url}: HTTP {response.status}")
        body = await response.json(content_type=None)
    if not isinstance(body, dict):
        raise ValueError(f"{url}: not a JSON object")
    return body
