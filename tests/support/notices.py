"""Real peers for notice channels: a signature-checking webhook receiver, an SMTP server
(aiosmtpd), a Mosquitto broker and an MQTT collector, each on a port the OS handed out."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiomqtt
import jsonschema
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from pipeline.notices.channels.webhook.sign import (
    NOTICE_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify,
)
from tests.support.mosquitto import broker
from tests.support.stack import free_port

SCHEMA_PATH = (
    Path(__file__).parents[2]
    / "pipeline"
    / "notices"
    / "channels"
    / "webhook"
    / "notice.schema.json"
)


@dataclass
class Received:
    path: str
    body: dict[str, Any]
    at: float
    signature_ok: bool
    notice_id: str


class BackgroundLoop:
    """An event loop in a daemon thread, for peers that must serve while tests block."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def call(self, coro: Any, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.call(_cancel_others(), timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


async def _cancel_others() -> None:
    """Cancel what still runs in the loop (a handler sleeping for /slow) before it closes."""
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class WebhookReceiver:
    """Checks each request as a real receiver would (HMAC, 5-minute window, JSON Schema).

    Paths: ``/ok``; ``/slow`` (answers after 30 s); ``/fail`` (500); ``/flaky`` (500 for the
    first ``flaky_failures`` requests, then 204); ``/loop`` (redirects to itself); ``/big``
    (204 with a 10 MB body); ``/dead/...`` is never served (use :meth:`dead_url`).
    """

    def __init__(self, key: bytes, *, flaky_failures: int = 2) -> None:
        self.key = key
        self.flaky_failures = flaky_failures
        self.received: list[Received] = []
        self.hits: dict[str, int] = {}
        self.schema = json.loads(SCHEMA_PATH.read_text())
        self._bg = BackgroundLoop()
        self._runner: web.AppRunner | None = None
        self.base_url = self._bg.call(self._start())

    async def _start(self) -> str:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        return f"http://{host}:{port}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.hits[path] = self.hits.get(path, 0) + 1
        if path == "/loop":
            raise web.HTTPFound("/loop")
        if path == "/slow":
            await asyncio.sleep(30)
        if path == "/fail" or (path == "/flaky" and self.hits[path] <= self.flaky_failures):
            return web.Response(status=500, text="try later")
        raw = await request.read()
        ok = verify(
            self.key,
            request.headers.get(SIGNATURE_HEADER, ""),
            request.headers.get(TIMESTAMP_HEADER, ""),
            raw,
            now=time.time(),
        )
        if not ok:
            return web.Response(status=401, text="bad signature")
        body = json.loads(raw)
        jsonschema.validate(body, self.schema)
        self.received.append(
            Received(path, body, time.time(), ok, request.headers.get(NOTICE_ID_HEADER, ""))
        )
        if path == "/big":
            return web.Response(status=200, body=b"x" * (10 * 1024 * 1024))
        return web.Response(status=204)

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    @staticmethod
    def dead_url() -> str:
        """A loopback port nobody listens on (connection refused)."""
        return f"http://127.0.0.1:{free_port()}/dead"

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._bg.call(_cancel_others(), timeout=10)
        if self._runner is not None:
            with contextlib.suppress(Exception):
                self._bg.call(self._runner.cleanup(), timeout=5)
        self._bg.close()


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[float, EmailMessage]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        content = envelope.original_content or b""
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append((time.time(), message))
        return "250 OK"


class SmtpServer:
    """A real aiosmtpd SMTP server on loopback, collecting what it is sent."""

    def __init__(self) -> None:
        self.inbox = _Inbox()
        self.port = free_port()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    @property
    def messages(self) -> list[EmailMessage]:
        return [m for _t, m in self.inbox.messages]

    def close(self) -> None:
        self.controller.stop()


@contextlib.contextmanager
def mosquitto(tmp_path: Path) -> Iterator[int]:
    """A real Mosquitto broker on a free loopback port; stopped (by its pid) afterwards."""
    with broker(tmp_path / "mosquitto") as running_broker:
        yield running_broker.port


@dataclass
class MqttCollector:
    """Subscribes to ``topic`` (wildcards allowed) in the background; collects messages."""

    port: int
    topic: str
    messages: list[tuple[str, dict[str, Any], float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._bg = BackgroundLoop()
        self._ready = threading.Event()
        self._task = asyncio.run_coroutine_threadsafe(self._run(), self._bg.loop)
        assert self._ready.wait(15), "MQTT collector did not subscribe"

    async def _run(self) -> None:
        async with aiomqtt.Client("127.0.0.1", self.port) as client:
            await client.subscribe(self.topic, qos=1)
            self._ready.set()
            async for message in client.messages:
                payload = message.payload
                assert isinstance(payload, bytes | bytearray)
                self.messages.append((str(message.topic), json.loads(payload), time.time()))

    def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(Exception):
            self._task.result(timeout=5)
        self._bg.close()
