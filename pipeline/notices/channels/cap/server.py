"""HTTP for feed readers: ``/feeds/<subscriber>.atom``, ``/alerts/<subscriber>/<id>.xml``,
and the notifier's Prometheus ``/metrics``."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from pipeline.notices.channels.cap.feed import FeedStore, atom_feed
from pipeline.notices.channels.cap.render import CAP_MEDIA_TYPE
from pipeline.notices.subscriptions import Subscriptions

ATOM_MEDIA_TYPE = "application/atom+xml"


def feed_app(
    store: FeedStore, subscriptions: Subscriptions, registry: CollectorRegistry | None = None
) -> web.Application:
    """The aiohttp application (bind it with :class:`aiohttp.web.AppRunner`)."""

    def titled(subscriber_id: str) -> str | None:
        subscriber = subscriptions.get(subscriber_id)
        if subscriber is None:
            return None
        channel = next((c for c in subscriber.channels if c.type == "atom"), None)
        configured = getattr(channel, "title", None) if channel is not None else None
        if channel is None:
            return None
        return str(configured or f"Continuity Watch notices for {subscriber.name or subscriber_id}")

    async def feed(request: web.Request) -> web.Response:
        subscriber_id = request.match_info["subscriber"]
        title = titled(subscriber_id)
        if title is None:
            raise web.HTTPNotFound(text=f"no atom feed for {subscriber_id!r}")
        base = f"{request.scheme}://{request.host}"
        body = atom_feed(subscriber_id, title, store.entries(subscriber_id), base_url=base)
        return web.Response(body=body, content_type=ATOM_MEDIA_TYPE, charset="utf-8")

    async def alert(request: web.Request) -> web.Response:
        subscriber_id = request.match_info["subscriber"]
        if titled(subscriber_id) is None:
            raise web.HTTPNotFound()
        wanted = request.match_info["notice_id"]
        for entry in store.entries(subscriber_id):
            if entry.notice_id == wanted:
                return web.Response(
                    body=entry.cap.encode(), content_type=CAP_MEDIA_TYPE, charset="utf-8"
                )
        raise web.HTTPNotFound()

    async def metrics(_request: web.Request) -> web.Response:
        assert registry is not None
        response = web.Response(body=generate_latest(registry))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    app = web.Application()
    app.router.add_get("/feeds/{subscriber}.atom", feed)
    app.router.add_get("/alerts/{subscriber}/{notice_id}.xml", alert)
    if registry is not None:
        app.router.add_get("/metrics", metrics)
    return app
