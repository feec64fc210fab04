"""Running configured feeds: fetch bytes, parse them with the clock's reading, deliver results.

:class:`FeedRunner` is the :class:`~connectors.base.PollSource` for every configured feed: it
reads ``path`` or GETs ``url`` (aiohttp), times the fetch, and calls the feed type's parser.
A failed fetch of a data feed is a ``fetch_failed`` rejection; for a probe feed
(``fhir_metadata``) it is the evidence itself (a *down* probe).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

from connectors.base import Clock, FeedContext, FetchInfo, ParseResult, ServiceSpec, Sink
from connectors.config import DeploymentConfig, FeedConfig
from connectors.mqtt import MqttSettings, messages
from connectors.parsers._common import MAX_FEED_BYTES
from connectors.parsers.mqtt_heartbeat import MqttHeartbeatOptions
from connectors.registry import FEED_TYPES, Fetch
from connectors.silence import SilenceWatch


def feed_context(
    feed: FeedConfig,
    services: Mapping[str, ServiceSpec],
    now: float,
    fetch: FetchInfo | None = None,
) -> FeedContext:
    """The parser context for one feed at one clock reading."""
    return FeedContext(
        source=feed.feed_id,
        now=now,
        default_service=services[feed.service] if feed.service else None,
        services={key: services[sid] for key, sid in feed.mapping.items()},
        fetch=fetch,
    )


class FeedRunner:
    """Polls one configured feed; satisfies :class:`~connectors.base.PollSource`."""

    def __init__(
        self,
        feed: FeedConfig,
        services: Mapping[str, ServiceSpec],
        clock: Clock = time.time,
        session: aiohttp.ClientSession | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.feed = feed
        self.ssl_context = ssl_context or ssl.create_default_context()
        self.services = services
        self.clock = clock
        self.session = session
        self.source_id = feed.feed_id
        self.interval_s = feed.interval_s
        self.feed_type = FEED_TYPES[feed.type]

    async def poll(self) -> ParseResult:
        raw, fetch = await self.fetch()
        ctx = feed_context(self.feed, self.services, self.clock(), fetch)
        if fetch.error and self.feed_type.fetch is not Fetch.PROBE:
            return ParseResult(rejections=[ctx.reject("fetch_failed", None, fetch.error, raw)])
        if self.feed_type.fetch is Fetch.POLL and _is_html(fetch.content_type):
            # No data feed here is HTML: this is a login page, captive portal or error page
            # served with 200, and saying so beats a confusing "malformed_json".
            detail = f"got {fetch.content_type}, expected a {self.feed_type.summary} feed"
            return ParseResult(
                rejections=[ctx.reject("unsupported_content_type", "Content-Type", detail, raw)]
            )
        return self.feed_type.parse(raw, ctx, self.feed.options)

    async def fetch(self) -> tuple[bytes, FetchInfo]:
        if self.feed.path is not None:
            return await asyncio.to_thread(_read_file, self.feed.path)
        assert self.feed.url is not None  # config guarantees exactly one of path / url
        return await self._get(self.feed.url)

    async def _expiry(self, url: str) -> float | None:
        if self.feed_type.fetch is not Fetch.PROBE:
            return None
        return await _tls_not_after(url, self.ssl_context, self.feed.timeout_s)

    async def _get(self, url: str) -> tuple[bytes, FetchInfo]:
        timeout = aiohttp.ClientTimeout(total=self.feed.timeout_s)
        owned = self.session is None
        session = self.session or aiohttp.ClientSession(
            timeout=timeout, connector=aiohttp.TCPConnector(ssl=self.ssl_context)
        )
        started = time.perf_counter()
        try:
            async with session.get(url, timeout=timeout) as response:
                body = await _read_capped(response.content, MAX_FEED_BYTES + 1)
                latency = time.perf_counter() - started
                return body, FetchInfo(
                    http_status=response.status,
                    latency_s=latency,
                    url=url,
                    content_type=response.headers.get("Content-Type"),
                    error=None if response.status < 400 else f"HTTP {response.status}",
                    tls_not_after=await self._expiry(url),
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            return b"", FetchInfo(url=url, error=f"{type(exc).__name__}: {exc}"[:200])
        finally:
            if owned:
                await session.close()


async def _tls_not_after(url: str, context: ssl.SSLContext, timeout_s: float) -> float | None:
    """The peer certificate's notAfter, from its own TLS handshake.

    aiohttp releases the connection as soon as a small body is in, so the response cannot be
    asked for its certificate; one extra handshake per probe interval is cheap.
    """
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        return None
    try:
        async with asyncio.timeout(timeout_s):
            _reader, writer = await asyncio.open_connection(
                parts.hostname, parts.port or 443, ssl=context, server_hostname=parts.hostname
            )
    except (OSError, ssl.SSLError, TimeoutError):
        return None  # the GET itself reports the failure; expiry is only an extra
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        cert = ssl_object.getpeercert() if ssl_object is not None else None
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()
    not_after = cert.get("notAfter") if cert else None
    return float(ssl.cert_time_to_seconds(not_after)) if isinstance(not_after, str) else None


async def _read_capped(content: aiohttp.StreamReader, limit: int) -> bytes:
    """The body up to ``limit`` bytes: ``StreamReader.read(n)`` returns only what has arrived
    so far (one chunk), so a feed larger than one network read must be read in a loop."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in content.iter_chunked(64 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks)[:limit]


def _is_html(content_type: str | None) -> bool:
    if not content_type:
        return False
    return content_type.split(";")[0].strip().lower() in {"text/html", "application/xhtml+xml"}


def _read_file(path: Path) -> tuple[bytes, FetchInfo]:
    started = time.perf_counter()
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FEED_BYTES + 1)
    except OSError as exc:
        return b"", FetchInfo(url=path.as_uri(), error=f"{type(exc).__name__}: {exc}"[:200])
    return raw, FetchInfo(latency_s=time.perf_counter() - started, url=path.as_uri())


class MqttSource:
    """Subscribes to a feed's mapped topics; satisfies :class:`~connectors.base.SubscribeSource`.

    Retained messages are skipped (counted): a retained heartbeat is old news, and taking it
    as fresh liveness would hide exactly the outage the heartbeat exists to reveal.
    """

    def __init__(
        self, feed: FeedConfig, services: Mapping[str, ServiceSpec], clock: Clock = time.time
    ) -> None:
        assert feed.url is not None  # config guarantees a url for subscribe feeds
        parts = urlsplit(feed.url)
        options = feed.options if feed.options is not None else MqttHeartbeatOptions()
        self.feed = feed
        self.services = services
        self.clock = clock
        self.source_id = feed.feed_id
        self.feed_type = FEED_TYPES[feed.type]
        self.settings = MqttSettings(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or (8883 if parts.scheme == "mqtts" else 1883),
            topics=tuple(feed.mapping),
            client_id=f"continuity-{feed.feed_id}"[:23],  # MQTT 3.1.1 servers may cap at 23
            keepalive_s=options.keepalive_s,
            username=options.username,
            password=options.password,
            tls=parts.scheme == "mqtts",
            ca_file=options.ca_file,
            protocol=options.mqtt_version,
        )
        self._stop = asyncio.Event()

    def close(self) -> None:
        self._stop.set()

    async def subscribe(self) -> AsyncIterator[ParseResult]:
        async for message in messages(self.settings, self._stop):
            if message.retain:
                yield ParseResult(skipped=Counter({"retained_message": 1}))
                continue
            service_id = self.feed.mapping.get(message.topic)
            if service_id is None:
                yield ParseResult(skipped=Counter({"unmapped_topic": 1}))
                continue
            ctx = FeedContext(
                source=self.feed.feed_id,
                now=self.clock(),
                default_service=self.services[service_id],
            )
            yield self.feed_type.parse(message.payload, ctx, self.feed.options)


Source = FeedRunner | MqttSource


def runners(
    config: DeploymentConfig,
    clock: Clock = time.time,
    only: set[str] | None = None,
    session: aiohttp.ClientSession | None = None,
) -> list[Source]:
    """One source per configured feed (or per feed named in ``only``)."""
    services = config.services
    out: list[Source] = []
    for feed in config.feeds:
        if only is not None and feed.feed_id not in only:
            continue
        if FEED_TYPES[feed.type].fetch is Fetch.SUBSCRIBE:
            out.append(MqttSource(feed, services, clock))
        else:
            out.append(FeedRunner(feed, services, clock, session))
    return out


async def run_forever(sources: list[Source], sink: Sink, stop: asyncio.Event) -> None:
    """Poll or subscribe every source and hand each result to ``sink`` until ``stop``.

    A watchdog also hands ``sink`` the *unknown* evidence of a feed that has gone silent
    (see :mod:`connectors.silence`).
    """
    watches = {s.source_id: SilenceWatch(s.feed, s.services, s.clock) for s in sources}

    async def deliver(source_id: str, result: ParseResult) -> None:
        watches[source_id].record(result)
        await sink(source_id, result)

    async def poll_loop(runner: FeedRunner) -> None:
        while not stop.is_set():
            await deliver(runner.source_id, await runner.poll())
            try:
                await asyncio.wait_for(stop.wait(), timeout=runner.interval_s)
            except TimeoutError:
                continue

    async def subscribe_loop(source: MqttSource) -> None:
        async def closer() -> None:
            await stop.wait()
            source.close()

        watcher = asyncio.create_task(closer())
        try:
            async for result in source.subscribe():
                await deliver(source.source_id, result)
        finally:
            watcher.cancel()

    async def watchdog() -> None:
        if not watches:
            return
        every = min(10.0, max(0.05, min(w.silent_after_s for w in watches.values()) / 4))
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every)
            for source_id, watch in watches.items():
                if not stop.is_set() and (evidence := watch.check()) is not None:
                    await sink(source_id, evidence)

    await asyncio.gather(
        *(poll_loop(s) if isinstance(s, FeedRunner) else subscribe_loop(s) for s in sources),
        watchdog(),
    )
