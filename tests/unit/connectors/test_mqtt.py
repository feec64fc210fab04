from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.base import ParseResult
from connectors.config import FeedConfig
from connectors.mqtt import (
    CONNACK,
    MqttError,
    connect_packet,
    decode_publish,
    encode_remaining_length,
    publish_packet,
    read_packet,
    subscribe_packet,
)
from connectors.parsers.mqtt_heartbeat import MqttHeartbeatOptions, parse_mqtt_heartbeat
from connectors.runtime import MqttSource, run_forever
from pipeline.core.schema import Kind, Status

from .conftest import context, service

SITE = service("telecom.site-kyiv-1")


def _decode_length(data: bytes) -> int:
    value, shift = 0, 0
    for byte in data:
        value += (byte & 0x7F) << shift
        shift += 7
    return value


@pytest.mark.parametrize("length", [0, 1, 127, 128, 16_383, 16_384, 2_097_151, 268_435_455])
def test_remaining_length_round_trips_at_the_varint_boundaries(length: int) -> None:
    encoded = encode_remaining_length(length)
    assert _decode_length(encoded) == length
    assert len(encoded) == 1 + (length >= 128) + (length >= 16_384) + (length >= 2_097_152)


def test_connect_and_subscribe_packets_follow_the_3_1_1_layout() -> None:
    packet = connect_packet("cw", 30, "user", "pw")
    assert packet[0] == 0x10
    assert packet[2:10] == b"\x00\x04MQTT\x04\xc2"  # level 4; username, password, clean
    assert packet[10:12] == b"\x00\x1e"  # keep-alive 30 s
    assert packet.endswith(b"\x00\x02cw\x00\x04user\x00\x02pw")
    assert subscribe_packet(7, ["a/b"]) == b"\x82\x08\x00\x07\x00\x03a/b\x01"


def test_publish_decoding_with_qos_and_retain() -> None:
    message = decode_publish(0x33, b"\x00\x03a/b\x00\x2ahello")  # QoS 1, retain
    assert (message.topic, message.payload, message.qos, message.retain, message.packet_id) == (
        "a/b",
        b"hello",
        1,
        True,
        42,
    )
    with pytest.raises(MqttError):
        decode_publish(0x30, b"\x00\x09a/b")  # topic length past the end
    with pytest.raises(MqttError):
        decode_publish(0x36, b"\x00\x01a")  # QoS 3 does not exist


def test_heartbeat_payloads() -> None:
    now = 1_700_000_000.0
    ctx = context(now, SITE)
    [plain] = parse_mqtt_heartbeat(b"", ctx).observations
    assert (plain.kind, plain.status, plain.observed_at) == (Kind.HEARTBEAT, Status.UP, now)
    rich = b'{"ts": 1699999990, "status": "degraded", "seq": 17}'
    [obs] = parse_mqtt_heartbeat(rich, ctx).observations
    declared = {"expected_interval_s": SITE.expected_interval_s}
    assert (obs.status, obs.observed_at, obs.attrs) == (
        Status.DEGRADED,
        now - 10,
        {"seq": 17, **declared},
    )
    bad = parse_mqtt_heartbeat(b'{"status": "fine"}', ctx)
    assert [(r.reason, r.field) for r in bad.rejections] == [("invalid_field", "status")]
    broken = parse_mqtt_heartbeat(b'{"ts": ', ctx)
    assert [r.reason for r in broken.rejections] == ["malformed_json"]
    orphan = parse_mqtt_heartbeat(b"", context(now))
    assert [r.reason for r in orphan.rejections] == ["unknown_service"]


def _free_port() -> int:
    # Mosquitto cannot report a port it chose, so ask the OS for one that is free now.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[int]:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(binary).exists():
        pytest.skip("needs the mosquitto broker (Debian package mosquitto)")
    port = _free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    broker = subprocess.Popen([binary, "-c", str(conf)], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or broker.poll() is not None:
                    errors = broker.stderr.read() if broker.stderr else b""
                    pytest.fail(f"mosquitto did not start: {errors!r}")
                time.sleep(0.05)
        yield port
    finally:
        broker.terminate()
        broker.wait(timeout=10)
        if broker.stderr is not None:
            broker.stderr.close()


async def _publish(port: int, messages: list[tuple[str, bytes, bool]]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(connect_packet("test-publisher", 30))
    first, _ = await read_packet(reader)
    assert first == CONNACK
    for topic, payload, retain in messages:
        writer.write(publish_packet(topic, payload, retain=retain))
    writer.write(b"\xe0\x00")
    await writer.drain()
    writer.close()
    await writer.wait_closed()


def test_heartbeats_through_a_real_mosquitto(mosquitto: int) -> None:
    topic = "sites/kyiv-1/heartbeat"
    feed = FeedConfig(
        "mqtt-sites",
        "op",
        "mqtt_heartbeat",
        30.0,
        f"mqtt://127.0.0.1:{mosquitto}",
        None,
        None,
        {topic: SITE.service_id},
        MqttHeartbeatOptions(keepalive_s=5),
        5.0,
    )
    source = MqttSource(feed, {SITE.service_id: SITE})
    seen: list[ParseResult] = []

    async def scenario() -> None:
        # A retained heartbeat from before we subscribed: old news, must not count as alive.
        await _publish(mosquitto, [(topic, b"stale", True)])
        stop = asyncio.Event()

        async def sink(source_id: str, result: ParseResult) -> None:
            assert source_id == "mqtt-sites"
            seen.append(result)
            if sum(len(r.observations) for r in seen) == 2:
                stop.set()

        runner = asyncio.create_task(run_forever([source], sink, stop))
        await asyncio.sleep(0.3)  # let the subscription settle
        await _publish(
            mosquitto,
            [(topic, b'{"seq": 1}', False), ("sites/unknown", b"x", False), (topic, b"2", False)],
        )
        await asyncio.wait_for(runner, timeout=10)

    asyncio.run(scenario())
    observations = [o for r in seen for o in r.observations]
    assert [(o.service_id, o.kind, o.status) for o in observations] == [
        (SITE.service_id, Kind.HEARTBEAT, Status.UP)
    ] * 2
    assert observations[0].attrs == {"seq": 1, "expected_interval_s": SITE.expected_interval_s}
    skipped = sum((r.skipped for r in seen), start=ParseResult().skipped)
    assert skipped["retained_message"] == 1
