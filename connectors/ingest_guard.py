"""Connection limits and timeouts for the public ingest API, in front of aiohttp.

aiohttp closes idle keep-alive connections but never times out a client that sends its
request headers (or body) slowly, and accepts connections without limit. A guard wraps each
connection's protocol:

* at most ``per_client`` connections per peer address and ``total`` overall; beyond that a new
  connection is closed at once, before any byte is read;
* a connection not inside a handler must deliver a complete request head within
  ``header_timeout`` of the previous response (or of connecting) and may stay idle for at most
  ``idle_timeout``; the body is read with ``body_timeout`` by the handler itself.

Handlers mark their connection busy through :meth:`ConnectionGuard.middleware`, so a request
that waits for Kafka is never cut.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    idle_timeout: float = 30.0
    per_client: int = 64
    total: int = 2048


@dataclass(slots=True)
class _Connection:
    peer: str
    since: float
    last_data: float
    busy: bool = False
    partial: bool = False  # bytes received since the last response


@dataclass
class ConnectionGuard:
    """Admits, tracks and times out connections (see the module docstring)."""

    limits: ConnectionLimits
    clock: Callable[[], float] = time.monotonic
    open: dict[asyncio.BaseTransport, _Connection] = field(default_factory=dict)
    per_peer: Counter[str] = field(default_factory=Counter)
    refused: int = 0
    timed_out: int = 0

    def protocol_factory(self, inner: Callable[[], Any]) -> Callable[[], asyncio.Protocol]:
        """Wrap ``inner`` (aiohttp's ``runner.server``) so every connection is guarded."""
        return lambda: _GuardedProtocol(self, inner())

    @web.middleware
    async def middleware(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        connection = self.open.get(request.transport) if request.transport else None
        if connection is not None:
            connection.busy = True
        try:
            return await handler(request)
        finally:
            if connection is not None:
                now = self.clock()
                connection.busy, connection.partial = False, False
                connection.since = connection.last_data = now

    def sweep(self) -> int:
        """Abort connections past their deadlines; returns how many."""
        now = self.clock()
        late = [
            transport
            for transport, c in self.open.items()
            if not c.busy
            and (
                (c.partial and now - c.since > self.limits.header_timeout)
                or now - c.last_data > self.limits.idle_timeout
                or (not c.partial and now - c.since > self.limits.idle_timeout)
            )
        ]
        for transport in late:
            self.timed_out += 1
            transport.abort()  # type: ignore[attr-defined]
        return len(late)

    async def watch(self, every: float = 0.5) -> None:
        while True:
            await asyncio.sleep(every)
            self.sweep()

    def _admit(self, transport: asyncio.BaseTransport) -> bool:
        peername = transport.get_extra_info("peername")
        peer = str(peername[0]) if peername else "?"
        if len(self.open) >= self.limits.total or self.per_peer[peer] >= self.limits.per_client:
            self.refused += 1
            return False
        now = self.clock()
        self.open[transport] = _Connection(peer, now, now)
        self.per_peer[peer] += 1
        return True

    def _received(self, transport: asyncio.BaseTransport) -> None:
        connection = self.open.get(transport)
        if connection is not None:
            connection.last_data = self.clock()
            if not connection.busy and not connection.partial:
                connection.partial = True
                connection.since = connection.last_data

    def _release(self, transport: asyncio.BaseTransport) -> None:
        connection = self.open.pop(transport, None)
        if connection is not None:
            self.per_peer[connection.peer] -= 1
            if self.per_peer[connection.peer] <= 0:
                del self.per_peer[connection.peer]


class _GuardedProtocol(asyncio.Protocol):
    def __init__(self, guard: ConnectionGuard, inner: Any) -> None:
        self._guard = guard
        self._inner = inner
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not self._guard._admit(transport):
            transport.abort()  # type: ignore[attr-defined]
            return
        self._transport = transport
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._transport is not None:
            self._guard._received(self._transport)
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        if self._transport is None:
            return None
        result: bool | None = self._inner.eof_received()
        return result

    def pause_writing(self) -> None:
        if self._transport is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._transport is not None:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._guard._release(self._transport)
            self._inner.connection_lost(exc)


@dataclass
class GuardedServer:
    """A started ingest server: its URL, and how to stop it."""

    url: str
    runner: web.AppRunner
    server: asyncio.Server
    watcher: asyncio.Task[None]

    async def close(self) -> None:
        self.watcher.cancel()
        self.server.close()
        await self.runner.cleanup()


async def serve_guarded(
    app: web.Application, guard: ConnectionGuard, host: str, port: int
) -> GuardedServer:
    """Serve ``app`` on ``host:port`` (0: any free port) behind ``guard``."""
    runner = web.AppRunner(app, keepalive_timeout=guard.limits.idle_timeout)
    await runner.setup()
    assert runner.server is not None  # set by setup()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(guard.protocol_factory(runner.server), host, port)
    bound = server.sockets[0].getsockname()
    watcher = asyncio.create_task(guard.watch())
    return GuardedServer(f"http://{bound[0]}:{bound[1]}", runner, server, watcher)
