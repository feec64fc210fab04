"""Subscribing to MQTT heartbeat topics, through the maintained ``aiomqtt`` client (paho-mqtt).

``aiomqtt`` speaks MQTT 3.1.1 and 5, TLS (``mqtts://``, optionally with a private CA) and
username/password; this module only adds what a heartbeat consumer needs on top: subscribe
at QoS 1, hand each message on with its retain flag, and reconnect with exponential backoff,
so a broker restart is a gap in evidence (which silence detection sees), not a crash.

>>> settings = MqttSettings("broker.example", 8883, ("sites/+/hb",), "cw-1", tls=True)
>>> settings.tls_context() is not None, MqttSettings("h", 1883, (), "c").tls_context()
(True, None)
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiomqtt
import structlog

log = structlog.get_logger(__name__)

#: Protocol versions a feed may ask for (``options.mqtt_version``).
PROTOCOLS = {"3.1.1": aiomqtt.ProtocolVersion.V311, "5": aiomqtt.ProtocolVersion.V5}


@dataclass(frozen=True, slots=True)
class Publish:
    """One message as the connector sees it."""

    topic: str
    payload: bytes
    qos: int
    retain: bool


@dataclass(frozen=True, slots=True)
class MqttSettings:
    host: str
    port: int
    topics: tuple[str, ...]
    client_id: str
    keepalive_s: int = 30
    username: str | None = None
    password: str | None = None
    reconnect_max_s: float = 30.0
    #: TLS (``mqtts://``): the system's CAs, or only ``ca_file`` when given.
    tls: bool = False
    ca_file: str | None = None
    protocol: str = "3.1.1"

    def tls_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        return ssl.create_default_context(cafile=self.ca_file)


def _payload(value: object) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if value is None:
        return b""
    return str(value).encode()


async def messages(settings: MqttSettings, stop: asyncio.Event) -> AsyncIterator[Publish]:
    """Yield messages until ``stop``; reconnects with exponential backoff."""
    backoff = 0.5
    while not stop.is_set():
        try:
            async for message in _session(settings, stop):
                backoff = 0.5
                yield message
        except aiomqtt.MqttError as exc:
            # The gap is visible downstream as silence; say why once per attempt.
            log.warning("mqtt_disconnected", host=settings.host, port=settings.port, error=str(exc))
        if stop.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=backoff)
        backoff = min(backoff * 2, settings.reconnect_max_s)


async def _session(settings: MqttSettings, stop: asyncio.Event) -> AsyncIterator[Publish]:
    client = aiomqtt.Client(
        settings.host,
        settings.port,
        identifier=settings.client_id,
        username=settings.username,
        password=settings.password,
        keepalive=settings.keepalive_s,
        protocol=PROTOCOLS[settings.protocol],
        tls_context=settings.tls_context(),
        timeout=10,
    )
    async with client:
        for topic in settings.topics:
            await client.subscribe(topic, qos=1)
        incoming = aiomqtt_messages(client)
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while True:
                following = asyncio.ensure_future(anext(incoming))
                done, _ = await asyncio.wait(
                    {following, stopping}, return_when=asyncio.FIRST_COMPLETED
                )
                if following not in done:
                    following.cancel()
                    with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                        await following
                    return
                message = following.result()
                yield Publish(
                    message.topic.value, _payload(message.payload), message.qos, message.retain
                )
        finally:
            stopping.cancel()


def aiomqtt_messages(client: aiomqtt.Client) -> AsyncIterator[aiomqtt.Message]:
    """The client's message stream as a plain async iterator."""
    return aiter(client.messages)
