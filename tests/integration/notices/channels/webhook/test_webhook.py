"""Webhook channel against a real aiohttp receiver that checks HMAC, replay window and schema;
the dispatcher keeps a slow or dead endpoint from delaying anyone else."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator

import pytest

from pipeline.notices.channels.base import DeliveryError
from pipeline.notices.channels.cap.config import AtomConfig
from pipeline.notices.channels.common import Delivery
from pipeline.notices.channels.webhook.config import WebhookConfig
from pipeline.notices.channels.webhook.sender import WebhookSender
from pipeline.notices.channels.webhook.sign import signature, verify
from pipeline.notices.dispatch import Attempt, Dispatcher, Lane
from pipeline.notices.secrets import SecretRef
from pipeline.notices.subscriptions import Subscriber
from tests.support.notice_samples import opened_and_restored
from tests.support.notices import WebhookReceiver

pytestmark = pytest.mark.integration

KEY = "webhook-test-key"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    peer = WebhookReceiver(KEY.encode())
    yield peer
    peer.close()


@pytest.fixture(autouse=True)
def hook_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_HOOK_KEY", KEY)


def config(url: str, *, timeout_s: float = 2.0, attempts: int = 3) -> WebhookConfig:
    delivery = Delivery("hook", timeout_s=timeout_s, max_attempts=attempts, backoff_s=0.05)
    return WebhookConfig(delivery, url, SecretRef("env", "TEST_HOOK_KEY"))


SUBSCRIBER = Subscriber("cert", (AtomConfig(Delivery("atom")),))


def test_signed_notice_is_accepted_and_matches_the_schema(receiver: WebhookReceiver) -> None:
    opened, restored = opened_and_restored(SUBSCRIBER)
    sender = WebhookSender(config(receiver.url("/ok")))

    async def run() -> list[str]:
        try:
            return [await sender.send(opened), await sender.send(restored)]
        finally:
            await sender.close()

    assert asyncio.run(run()) == ["HTTP 204", "HTTP 204"]
    got = receiver.at("/ok")
    assert [r.body["kind"] for r in got] == ["incident_opened", "incident_restored"]
    assert got[0].notice_id == opened.notice_id
    item = got[0].body["items"][0]
    assert item["record"]["evidence_ids"] == ["ev-1", "ev-2"]
    assert got[1].body["items"][0]["references"][0]["notice_id"] == opened.notice_id


def test_signatures_expire_after_five_minutes_and_bind_the_body() -> None:
    body, now = b'{"a":1}', time.time()
    header = signature(b"k", int(now), body)
    assert verify(b"k", header, str(int(now)), body, now=now)
    assert not verify(b"k", header, str(int(now)), b'{"a":2}', now=now)
    assert not verify(b"other", header, str(int(now)), body, now=now)
    assert not verify(b"k", header, str(int(now)), body, now=now + 301)


@pytest.mark.parametrize(
    ("path", "retryable", "detail"),
    [
        ("/fail", True, "HTTP 500"),
        ("/loop", False, "more than 3 redirects"),
        ("/slow", True, "no answer within 0.5 s"),
    ],
)
def test_failures_are_classified(
    receiver: WebhookReceiver, path: str, retryable: bool, detail: str
) -> None:
    opened, _ = opened_and_restored(SUBSCRIBER)
    sender = WebhookSender(config(receiver.url(path), timeout_s=0.5))

    async def run() -> DeliveryError:
        try:
            await sender.send(opened)
        except DeliveryError as exc:
            return exc
        finally:
            await sender.close()
        raise AssertionError("delivery should have failed")

    error = asyncio.run(run())
    assert (error.retryable, error.detail) == (retryable, detail)


def test_a_ten_megabyte_answer_is_not_read(receiver: WebhookReceiver) -> None:
    opened, _ = opened_and_restored(SUBSCRIBER)
    sender = WebhookSender(config(receiver.url("/big")))

    async def run() -> str:
        try:
            return await sender.send(opened)
        finally:
            await sender.close()

    started = time.monotonic()
    assert asyncio.run(run()) == "HTTP 200"
    assert time.monotonic() - started < 2.0


def test_retries_with_backoff_then_dead_letter_and_others_are_not_delayed(
    receiver: WebhookReceiver,
) -> None:
    """flaky: 500, 500, then delivered on attempt 3; fail: dead-lettered after 3 attempts;
    slow and dead endpoints never hold up the fast one."""
    opened, _ = opened_and_restored(SUBSCRIBER)
    lanes = {
        "fast": config(receiver.url("/ok")),
        "flaky": config(receiver.url("/flaky")),
        "fail": config(receiver.url("/fail")),
        "slow": config(receiver.url("/slow"), timeout_s=1.0),
        "dead": config(receiver.dead_url()),
    }
    attempts: list[Attempt] = []
    finished: list[tuple[str, float]] = []

    async def record(attempt: Attempt) -> None:
        attempts.append(attempt)

    all_done = asyncio.Event()

    async def done(subscriber: str, channel: str, notice_id: str) -> None:
        finished.append((subscriber, time.monotonic()))
        if len(finished) == len(lanes):
            all_done.set()

    async def run() -> float:
        dispatcher = Dispatcher(
            [
                Lane(name, "webhook", Delivery(name, 1.0, 3, 0.05, 0.2), WebhookSender(cfg))
                for name, cfg in lanes.items()
            ],
            record,
            done,
            rng=random.Random(7),
        )
        # One lane per subscriber here: the Notice's subscriber_id picks the lane.
        dispatcher.lanes = {(name, name): lane for (_s, name), lane in dispatcher.lanes.items()}
        dispatcher.start()
        started = time.monotonic()
        for name in ("slow", "dead", "fail", "flaky", "fast"):
            notice = type(opened)(
                opened.notice_id, name, opened.kind, opened.created_at, opened.items
            )
            assert dispatcher.submit(notice, name)
        await asyncio.wait_for(all_done.wait(), timeout=30)
        await dispatcher.stop()
        return started

    started = asyncio.run(run())
    by_lane = {sub: at - started for sub, at in finished}
    assert by_lane["fast"] < 0.5, by_lane  # not behind slow (3 x 1 s) or dead
    assert by_lane["slow"] >= 3.0
    results = [(a.subscriber_id, a.attempt, a.result) for a in attempts]
    assert [r for r in results if r[0] == "flaky"] == [
        ("flaky", 1, "retry"),
        ("flaky", 2, "retry"),
        ("flaky", 3, "delivered"),
    ]
    assert [r for r in results if r[0] == "fail"] == [
        ("fail", 1, "retry"),
        ("fail", 2, "retry"),
        ("fail", 3, "failed"),
        ("fail", 3, "dead_letter"),
    ]
    assert ("dead", 3, "dead_letter") in results
    assert len(receiver.at("/ok")) == 1
    assert len(receiver.at("/flaky")) == 1
