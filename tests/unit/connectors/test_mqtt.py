from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from connectors.base import ParseResult
from connectors.config import FeedConfig
from connectors.parsers.mqtt_heartbeat import MqttHeartbeatOptions, parse_mqtt_heartbeat
from connectors.runtime import MqttSource, run_forever
from pipeline.core.schema import Kind, Observation, Status
from tests.support.mosquitto import PASSWORD, USER, Broker, broker, configure, running
from tests.support.mosquitto import publish as _publish
from tests.support.stack import free_port

from .conftest import context, service

SITE = service("telecom.site-kyiv-1")
SERVICES = {SITE.service_id: SITE}


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


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[int]:
    with broker(tmp_path / "broker") as running_broker:
        yield running_broker.port


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


def _feed(url: str, options: MqttHeartbeatOptions, topic: str) -> FeedConfig:
    return FeedConfig(
        "mqtt-sites", "op", "mqtt_heartbeat", 30.0, url, None, None, {topic: SITE.service_id},
        options, 5.0,
    )  # fmt: skip


async def _collect(
    source: MqttSource, seen: list[Observation], wanted: int, during: Callable[[], Awaitable[None]]
) -> None:
    """Run ``source`` into ``seen`` until it holds ``wanted`` observations; ``during`` runs."""
    stop = asyncio.Event()

    async def sink(_source_id: str, result: ParseResult) -> None:
        seen.extend(result.observations)
        if len(seen) >= wanted:
            stop.set()

    runner = asyncio.create_task(run_forever([source], sink, stop))
    await during()
    await asyncio.wait_for(runner, timeout=20)


async def _publish_until_seen(
    target: Broker, topic: str, payload: bytes, seen: Callable[[], bool]
) -> None:
    """Publish until the subscriber has it: the subscription settles asynchronously."""
    for _ in range(100):
        await _publish(target, [(topic, payload, False)])
        if seen():
            return
        await asyncio.sleep(0.2)
    raise AssertionError("the subscriber never received a message")


def test_heartbeats_over_tls_with_a_password(tmp_path: Path) -> None:
    topic = "sites/kyiv-1/heartbeat"
    with broker(tmp_path / "tls", tls=True) as secure:
        assert secure.ca_file is not None
        options = MqttHeartbeatOptions(
            keepalive_s=5, username=USER, password=PASSWORD, ca_file=str(secure.ca_file)
        )
        source = MqttSource(_feed(f"mqtts://127.0.0.1:{secure.port}", options, topic), SERVICES)
        got: list[Observation] = []

        async def scenario() -> None:
            async def during() -> None:
                await _publish_until_seen(secure, topic, b'{"seq": 3}', lambda: bool(got))

            await _collect(source, got, 1, during)

        asyncio.run(scenario())
    assert [(o.service_id, o.attrs["seq"]) for o in got][:1] == [(SITE.service_id, 3)]


def test_a_wrong_password_is_retried_not_fatal(tmp_path: Path) -> None:
    """A refused connection is a gap the subscriber retries, never a crash of the runtime."""
    with broker(tmp_path / "tls", tls=True) as secure:
        options = MqttHeartbeatOptions(username=USER, password="wrong", ca_file=str(secure.ca_file))
        feed = _feed(f"mqtts://127.0.0.1:{secure.port}", options, "t")
        source = MqttSource(feed, SERVICES)

        async def scenario() -> int:
            stop = asyncio.Event()
            results: list[ParseResult] = []

            async def sink(_source_id: str, result: ParseResult) -> None:
                results.append(result)

            runner = asyncio.create_task(run_forever([source], sink, stop))
            await asyncio.sleep(2.0)  # several refused attempts with backoff
            assert not runner.done()
            stop.set()
            await asyncio.wait_for(runner, timeout=10)
            return len(results)

        assert asyncio.run(scenario()) == 0


def test_the_subscriber_reconnects_after_a_broker_restart(tmp_path: Path) -> None:
    topic = "sites/kyiv-1/heartbeat"
    port = free_port()
    conf, _ = configure(tmp_path / "restart", port, tls=False)
    target = Broker(port)
    options = MqttHeartbeatOptions(keepalive_s=5)
    source = MqttSource(_feed(f"mqtt://127.0.0.1:{port}", options, topic), SERVICES)
    seqs: list[int] = []

    async def scenario() -> None:
        stop = asyncio.Event()

        async def sink(_source_id: str, result: ParseResult) -> None:
            seqs.extend(o.attrs["seq"] for o in result.observations)
            if 2 in seqs:
                stop.set()

        runner = asyncio.create_task(run_forever([source], sink, stop))
        with running(conf, port):
            await _publish_until_seen(target, topic, b'{"seq": 1}', lambda: 1 in seqs)
        # The broker is gone; the subscriber backs off and comes back when it returns.
        with running(conf, port):
            await _publish_until_seen(target, topic, b'{"seq": 2}', lambda: 2 in seqs)
            await asyncio.wait_for(runner, timeout=20)

    asyncio.run(scenario())
    assert {1, 2} <= set(seqs)
