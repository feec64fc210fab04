"""The status page and read API (aiohttp): every response is rendered from the requester's
view (:func:`pipeline.publish.views.build_view`), the audience coming from the bearer token.

Routes (all ``GET``):

* ``/`` — the status page (HTML, no script);
* ``/api/v1/view`` — the same view as JSON;
* ``/api/v1/services/{service_id}`` — one service and its incidents, if the view holds it
  (404 otherwise, the same answer whether the service exists or not);
* ``/api/v2/summary.json`` — Statuspage-compatible summary;
* ``/healthz``, ``/metrics``.

With a transparency log configured (``transparency.api_url``), every view carries a
``record`` block: the log's size, last signed head and the witnesses' agreement (the same for
every audience; "unreachable" when the log cannot be read).

Snapshots are read from InfluxDB at most once per ``cache_ttl_s`` (one live, one delayed for
the public) and rendered bodies are cached per route and viewer for the same time. Each
client address gets a token bucket (429 with ``Retry-After`` beyond it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from connectors.ratelimit import RateLimiter
from pipeline.publish.audience import Audience, Credentials, Unauthenticated, Viewer
from pipeline.publish.record_client import RecordSource
from pipeline.publish.records import Snapshot
from pipeline.publish.render import environment
from pipeline.publish.statuspage import summary
from pipeline.publish.views import ViewContext, build_view, find_service

log = structlog.get_logger(__name__)

ReadSnapshot = Callable[[float], Snapshot]


@dataclass(frozen=True, slots=True)
class ServerLimits:
    cache_ttl_s: float = 5.0
    rate_per_s: float = 20.0
    burst: int = 40


@dataclass(slots=True)
class _Cached:
    at: float
    value: Any


@dataclass
class _State:
    read: ReadSnapshot
    credentials: Credentials
    ctx: ViewContext
    limits: ServerLimits
    clock: Callable[[], float]
    page_name: str
    registry: CollectorRegistry
    record: RecordSource | None = None
    limiter: RateLimiter = field(init=False)
    snapshots: dict[str, _Cached] = field(default_factory=dict)
    bodies: dict[tuple[str, ...], _Cached] = field(default_factory=dict)
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    refreshing: dict[str, asyncio.Future[None]] = field(default_factory=dict)
    requests: Counter = field(init=False)
    seconds: Histogram = field(init=False)

    def __post_init__(self) -> None:
        self.limiter = RateLimiter(self.limits.rate_per_s, self.limits.burst, self.clock)
        self.requests = Counter(
            "continuity_publish_requests",
            "Status page and read API requests by route, audience and HTTP status.",
            ["route", "audience", "status"],
            registry=self.registry,
        )
        self.seconds = Histogram(
            "continuity_publish_request_duration_seconds",
            "Time to answer a status page or read API request.",
            ["route"],
            registry=self.registry,
        )

    async def snapshot(self, which: str) -> Snapshot:
        """The live or delayed snapshot. Read once per TTL; once one exists, an expired
        snapshot is still served while a single background read replaces it, so no request
        waits on InfluxDB after the first (stale by at most TTL + one read)."""
        cached = self.snapshots.get(which)
        if cached is None:
            lock = self.locks.setdefault(which, asyncio.Lock())
            async with lock:
                cached = self.snapshots.get(which)
                if cached is None:
                    await self._refresh(which)
                    cached = self.snapshots[which]
        elif self.clock() - cached.at >= self.limits.cache_ttl_s and which not in self.refreshing:
            self.refreshing[which] = asyncio.ensure_future(self._refresh(which))
        return cached.value  # type: ignore[no-any-return]

    async def _refresh(self, which: str) -> None:
        now = self.clock()
        as_of = now - (self.ctx.policy.delay_s if which == "public" else 0.0)
        try:
            snap = await asyncio.to_thread(self.read, as_of)
        except Exception:
            log.exception("snapshot_read_failed", which=which)
            if which not in self.snapshots:
                raise
        else:
            self.snapshots[which] = _Cached(now, snap)
        finally:
            self.refreshing.pop(which, None)

    async def view(self, viewer: Viewer) -> dict[str, Any]:
        public = await self.snapshot("public")
        live = public if self.ctx.policy.delay_s == 0 else None
        if viewer.audience is not Audience.PUBLIC and live is None:
            live = await self.snapshot("live")
        view = build_view(viewer, live or public, public, self.ctx, self.clock())
        view["record"] = None if self.record is None else await self.record.current()
        return view


# No script anywhere; inline styles only.
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'"
_STATE = web.AppKey("continuity_publish", _State)
Handler = Callable[[web.Request, _State, Viewer], Awaitable[web.Response]]


def make_status_app(
    read: ReadSnapshot,
    credentials: Credentials,
    ctx: ViewContext,
    *,
    registry: CollectorRegistry,
    limits: ServerLimits | None = None,
    clock: Callable[[], float] = time.time,
    page_name: str = "Continuity Watch",
    record: RecordSource | None = None,
) -> web.Application:
    """The application; ``read(as_of)`` returns a snapshot (blocking; run in a thread);
    ``record`` reads the transparency log for the verifiable-record block."""
    app = web.Application()
    app[_STATE] = _State(
        read, credentials, ctx, limits or ServerLimits(), clock, page_name, registry, record
    )
    env = environment()
    template = env.get_template("status.html")

    async def page(request: web.Request, state: _State, viewer: Viewer) -> web.Response:
        async def render() -> bytes:
            return template.render(view=await state.view(viewer)).encode()

        body = await _cached(state, ("page", *_viewer_key(viewer)), render)
        return _response(body, "text/html", viewer, state)

    async def view_json(request: web.Request, state: _State, viewer: Viewer) -> web.Response:
        async def render() -> bytes:
            return orjson.dumps(await state.view(viewer))

        body = await _cached(state, ("view", *_viewer_key(viewer)), render)
        return _response(body, "application/json", viewer, state)

    async def summary_json(request: web.Request, state: _State, viewer: Viewer) -> web.Response:
        async def render() -> bytes:
            url = f"{request.scheme}://{request.host}/"
            return orjson.dumps(
                summary(await state.view(viewer), page_name=state.page_name, page_url=url)
            )

        body = await _cached(state, ("summary", *_viewer_key(viewer)), render)
        return _response(body, "application/json", viewer, state)

    async def service(request: web.Request, state: _State, viewer: Viewer) -> web.Response:
        found = find_service(await state.view(viewer), request.match_info["service_id"])
        if found is None:
            return _error(
                404,
                "not_found",
                "no such service in your view (service detail is shown to verifiers and to "
                "the service's own operator only)",
            )
        return _response(orjson.dumps(found), "application/json", viewer, state)

    for path, name, handler in (
        ("/", "page", page),
        ("/api/v1/view", "view", view_json),
        ("/api/v2/summary.json", "summary", summary_json),
        ("/api/v1/services/{service_id}", "service", service),
    ):
        app.router.add_get(path, _guarded(name, handler))
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/metrics", _metrics)
    return app


def _guarded(route: str, handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Rate limit per client, then authenticate, then answer; counts and times it all."""

    async def guarded(request: web.Request) -> web.Response:
        state = request.app[_STATE]
        started = time.perf_counter()
        audience = "-"
        wait = state.limiter.take(request.remote or "-")
        if wait > 0:
            response = _error(
                429,
                "rate_limited",
                f"more than {state.limits.rate_per_s:g} requests/s from this address",
                headers={"Retry-After": str(max(1, round(wait + 0.5)))},
            )
        else:
            try:
                viewer = state.credentials.identify(request.headers.get("Authorization"))
            except Unauthenticated as exc:
                response = _error(
                    401,
                    "unauthenticated",
                    f"{exc}; send no Authorization header for the public view",
                    headers={"WWW-Authenticate": 'Bearer realm="continuity"'},
                )
            else:
                audience = viewer.audience.value
                response = await handler(request, state, viewer)
        state.requests.labels(route, audience, str(response.status)).inc()
        state.seconds.labels(route).observe(time.perf_counter() - started)
        return response

    return guarded


async def _cached(
    state: _State, key: tuple[str, ...], render: Callable[[], Awaitable[bytes]]
) -> bytes:
    now = state.clock()
    hit = state.bodies.get(key)
    if hit is not None and now - hit.at < state.limits.cache_ttl_s:
        return hit.value  # type: ignore[no-any-return]
    body = await render()
    state.bodies[key] = _Cached(now, body)
    return body


def _viewer_key(viewer: Viewer) -> tuple[str, str]:
    return viewer.audience.value, viewer.principal or ""


def _response(body: bytes, content_type: str, viewer: Viewer, state: _State) -> web.Response:
    ttl = int(state.limits.cache_ttl_s)
    cache = f"public, max-age={ttl}" if viewer.audience is Audience.PUBLIC else "private, no-store"
    return web.Response(
        body=body,
        content_type=content_type,
        charset="utf-8",
        headers={
            "Cache-Control": cache,
            "Vary": "Authorization",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": _CSP,
        },
    )


def _error(
    status: int, reason: str, detail: str, headers: dict[str, str] | None = None
) -> web.Response:
    body = {"status": status, "error": reason, "detail": detail}
    return web.Response(
        status=status, body=orjson.dumps(body), content_type="application/json", headers=headers
    )


async def _healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _metrics(request: web.Request) -> web.Response:
    payload = generate_latest(request.app[_STATE].registry)
    return web.Response(body=payload, headers={"Content-Type": "text/plain; version=0.0.4"})
