"""A minimal MQTT 3.1.1 subscriber (asyncio, no dependency) for heartbeat feeds.

Only what a heartbeat consumer needs: CONNECT (clean session, optional username/password),
SUBSCRIBE at QoS 1, PUBLISH in (QoS 0/1, PUBACK for 1), PINGREQ keep-alive, DISCONNECT.  The
packet codec is pure and unit-tested; :class:`MqttSubscriber` reconnects with backoff, so a
broker restart is a gap in evidence (which silence detection sees), not a crash.

>>> encode_remaining_length(321)
b'\\xc1\\x02'
>>> decode_publish(0x30, b"\\x00\\x03a/bhi")
Publish(topic='a/b', payload=b'hi', qos=0, retain=False, packet_id=None)
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass

CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK = 0x10, 0x20, 0x30, 0x40, 0x82, 0x90
PINGREQ, PINGRESP, DISCONNECT = 0xC0, 0xD0, 0xE0
MAX_PACKET_BYTES = 256 * 1024  # heartbeats are tiny; refuse anything that is not


class MqttError(Exception):
    """Protocol violation or refusal by the broker."""


@dataclass(frozen=True, slots=True)
class Publish:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    packet_id: int | None


def encode_remaining_length(length: int) -> bytes:
    out = bytearray()
    while True:
        byte, length = length % 128, length // 128
        out.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(out)


def _string(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack("!H", len(data)) + data


def _packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + encode_remaining_length(len(body)) + body


def connect_packet(
    client_id: str, keepalive_s: int, username: str | None = None, password: str | None = None
) -> bytes:
    flags = 0x02  # clean session: a restarted connector must not replay stale heartbeats
    payload = _string(client_id)
    if username is not None:
        flags |= 0x80
        payload += _string(username)
        if password is not None:
            flags |= 0x40
            payload += _string(password)
    header = _string("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive_s)
    return _packet(CONNECT, header + payload)


def subscribe_packet(packet_id: int, topics: list[str], qos: int = 1) -> bytes:
    body = struct.pack("!H", packet_id) + b"".join(_string(t) + bytes([qos]) for t in topics)
    return _packet(SUBSCRIBE, body)


def publish_packet(topic: str, payload: bytes, *, retain: bool = False) -> bytes:
    """A QoS 0 PUBLISH (used by tests and by operators' own tooling)."""
    return _packet(PUBLISH | (0x01 if retain else 0), _string(topic) + payload)


def puback_packet(packet_id: int) -> bytes:
    return _packet(PUBACK, struct.pack("!H", packet_id))


def decode_publish(first: int, body: bytes) -> Publish:
    qos = (first >> 1) & 0x03
    if qos == 3 or len(body) < 2:
        raise MqttError("malformed PUBLISH")
    (length,) = struct.unpack_from("!H", body)
    end = 2 + length
    if len(body) < end + (2 if qos else 0):
        raise MqttError("PUBLISH topic runs past the packet")
    try:
        topic = body[2:end].decode("utf-8")
    except UnicodeDecodeError:
        raise MqttError("PUBLISH topic is not UTF-8") from None
    packet_id = struct.unpack_from("!H", body, end)[0] if qos else None
    payload = body[end + (2 if qos else 0) :]
    return Publish(topic, payload, qos, bool(first & 0x01), packet_id)


async def read_packet(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One packet: (first byte, body). Raises on EOF or an oversize/garbled length."""
    first = (await reader.readexactly(1))[0]
    length, shift = 0, 0
    for _ in range(4):
        byte = (await reader.readexactly(1))[0]
        length += (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    else:
        raise MqttError("remaining length longer than 4 bytes")
    if length > MAX_PACKET_BYTES:
        raise MqttError(f"packet of {length} bytes exceeds {MAX_PACKET_BYTES}")
    return first, await reader.readexactly(length)


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


async def messages(settings: MqttSettings, stop: asyncio.Event) -> AsyncIterator[Publish]:
    """Yield PUBLISH messages until ``stop``; reconnects with exponential backoff."""
    backoff = 0.5
    while not stop.is_set():
        try:
            async for message in _session(settings, stop):
                backoff = 0.5
                yield message
        except (OSError, asyncio.IncompleteReadError, MqttError, TimeoutError):
            pass  # the gap is visible downstream as silence; retry below
        if stop.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=backoff)
        backoff = min(backoff * 2, settings.reconnect_max_s)


async def _session(settings: MqttSettings, stop: asyncio.Event) -> AsyncIterator[Publish]:
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(settings.host, settings.port), timeout=10
    )
    pinger: asyncio.Task[None] | None = None
    stopping: asyncio.Task[bool] | None = None
    try:
        writer.write(
            connect_packet(
                settings.client_id, settings.keepalive_s, settings.username, settings.password
            )
        )
        await writer.drain()
        first, body = await asyncio.wait_for(read_packet(reader), timeout=10)
        if first != CONNACK or len(body) != 2 or body[1] != 0:
            raise MqttError(f"connection refused (CONNACK {body.hex()})")
        writer.write(subscribe_packet(1, list(settings.topics)))
        await writer.drain()
        pinger = asyncio.create_task(_ping(writer, settings.keepalive_s))
        stopping = asyncio.create_task(stop.wait())
        while not stop.is_set():
            reading = asyncio.create_task(read_packet(reader))
            done, _ = await asyncio.wait(
                {reading, stopping},
                timeout=settings.keepalive_s * 1.5,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if reading not in done:
                reading.cancel()
                with contextlib.suppress(asyncio.CancelledError, asyncio.IncompleteReadError):
                    await reading
                if stop.is_set():
                    break
                raise MqttError("broker silent for 1.5 keep-alive periods")
            first, body = reading.result()
            kind = first & 0xF0
            if kind == SUBACK and any(code == 0x80 for code in body[2:]):
                raise MqttError("broker refused a subscription")
            if kind == PUBLISH:
                message = decode_publish(first, body)
                if message.qos and message.packet_id is not None:
                    writer.write(puback_packet(message.packet_id))
                    await writer.drain()
                yield message
        writer.write(bytes([DISCONNECT, 0]))
        with contextlib.suppress(OSError):
            await writer.drain()
    finally:
        for task in (pinger, stopping):
            if task is not None:
                task.cancel()
        writer.close()
        with contextlib.suppress(OSError, asyncio.CancelledError):
            await writer.wait_closed()


async def _ping(writer: asyncio.StreamWriter, keepalive_s: int) -> None:
    while True:
        await asyncio.sleep(keepalive_s / 2)
        writer.write(bytes([PINGREQ, 0]))
        await writer.drain()
