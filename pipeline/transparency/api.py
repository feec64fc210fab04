"""HTTP API of the log (aiohttp), served read-only beside the writer.

``GET /ledger/v1/head``: latest signed tree head, its co-signatures and the log's public key;
``GET /ledger/v1/entries?start=&end=``: entries (redacted leaves only; at most 1000);
``GET /ledger/v1/proof/inclusion?index=|key=&tree_size=``;
``GET /ledger/v1/proof/consistency?first=&second=``;
``POST /ledger/v1/cosignatures``: a witness hands in its co-signature of a head;
``POST /ledger/v1/refusals``: a witness hands in its signed refusal of a head;
``GET /ledger/v1/witnesses``: per witness, the largest size it co-signed and its refusals;
``GET /ledger/v1/openings?index=``: salts and values of redacted fields, only with the
disclosure token (``Authorization: Bearer ...``); ``GET /metrics``.
"""

from __future__ import annotations

import base64
import hmac
import time
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from pipeline.transparency.heads import Cosignature, Refusal, check_cosignature, check_refusal
from pipeline.transparency.keys import key_id, public_key_from_bytes
from pipeline.transparency.log import TransparencyLog
from pipeline.transparency.metrics import LedgerMetrics

MAX_ENTRIES = 1000
LOG = web.AppKey("log", TransparencyLog)
PUBLIC_KEY = web.AppKey("public_key", bytes)
LOG_KEY_ID = web.AppKey("log_key_id", str)
TOKEN = web.AppKey("disclosure_token", str)
REGISTRY = web.AppKey("registry", CollectorRegistry)
METRICS = web.AppKey("metrics", LedgerMetrics)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _int(request: web.Request, name: str, default: int | None = None) -> int:
    raw = request.query.get(name)
    if raw is None:
        if default is None:
            raise web.HTTPBadRequest(text=f"query parameter '{name}' is required (an integer)")
        return default
    try:
        value = int(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=f"query parameter '{name}' must be an integer") from None
    if value < 0:
        raise web.HTTPBadRequest(text=f"query parameter '{name}' must not be negative")
    return value


def _log(request: web.Request) -> TransparencyLog:
    ledger = request.app[LOG]
    ledger.refresh()
    return ledger


async def head(request: web.Request) -> web.Response:
    ledger = _log(request)
    latest = ledger.store.latest_head()
    if latest is None:
        raise web.HTTPNotFound(text="no signed tree head yet")
    cosigs = ledger.store.cosignatures(latest.tree_size, latest.timestamp_ms)
    return web.json_response(
        {
            "head": latest.to_dict(),
            "cosignatures": [c.to_dict() for c in cosigs],
            "log_public_key": _b64(request.app[PUBLIC_KEY]),
        }
    )


def _observe_witnesses(app: web.Application, ledger: TransparencyLog, head_size: int) -> None:
    """Per witness, the largest size it co-signed; how many reached the latest head's size.

    Counted by size rather than by the latest head itself: the log re-signs an unchanged
    size periodically, and a witness co-signs the new head only at its next poll.
    """
    metrics = app[METRICS]
    sizes = ledger.store.witness_sizes()
    for witness, size in sizes.items():
        metrics.witness_cosigned_size.labels(key_id(public_key_from_bytes(witness))[:16]).set(size)
    metrics.head_cosignatures.set(sum(1 for size in sizes.values() if size >= head_size))


async def entries(request: web.Request) -> web.Response:
    ledger = _log(request)
    start = _int(request, "start")
    end = min(_int(request, "end"), ledger.size, start + MAX_ENTRIES)
    rows = ledger.store.entries(start, end) if end > start else []
    return web.json_response(
        {"entries": [{"index": r.index, "leaf": r.leaf.decode("utf-8")} for r in rows]}
    )


async def inclusion(request: web.Request) -> web.Response:
    ledger = _log(request)
    if "key" in request.query:
        index = ledger.store.index_of(request.query["key"])
        if index is None:
            raise web.HTTPNotFound(text=f"no entry with key {request.query['key']!r}")
    else:
        index = _int(request, "index")
    size = _int(request, "tree_size", ledger.size)
    if not index < size <= ledger.size:
        raise web.HTTPBadRequest(text=f"need index < tree_size <= {ledger.size}")
    proof = ledger.inclusion_proof(index, size)
    return web.json_response(
        {"index": index, "tree_size": size, "inclusion": [_b64(p) for p in proof]}
    )


async def consistency(request: web.Request) -> web.Response:
    ledger = _log(request)
    first, second = _int(request, "first"), _int(request, "second")
    if not 0 < first <= second <= ledger.size:
        raise web.HTTPBadRequest(text=f"need 0 < first <= second <= {ledger.size}")
    proof = ledger.consistency_proof(first, second)
    return web.json_response(
        {"first": first, "second": second, "consistency": [_b64(p) for p in proof]}
    )


async def add_cosignature(request: web.Request) -> web.Response:
    try:
        body: Any = await request.json()
        cosig = Cosignature.from_dict(body)
    except ValueError as exc:
        raise web.HTTPBadRequest(text=f"not a co-signature: {exc}") from None
    if (problem := check_cosignature(cosig, request.app[LOG_KEY_ID])) is not None:
        raise web.HTTPBadRequest(text=problem)
    if not _log(request).store.add_cosignature(cosig):
        raise web.HTTPNotFound(text=f"no signed head of size {cosig.tree_size} with that root")
    return web.json_response({"stored": True, "witness_id": cosig.witness_id}, status=201)


async def add_refusal(request: web.Request) -> web.Response:
    """Keep a witness's refusal of one of this log's heads (or of a head served in its name)."""
    try:
        body: Any = await request.json()
        refusal = Refusal.from_dict(body)
    except ValueError as exc:
        raise web.HTTPBadRequest(text=f"not a refusal: {exc}") from None
    if refusal.log_key_id != request.app[LOG_KEY_ID]:
        raise web.HTTPBadRequest(text="the refusal names another log key")
    if (problem := check_refusal(refusal)) is not None:
        raise web.HTTPBadRequest(text=problem)
    _log(request).store.add_refusal(refusal, int(time.time() * 1000))
    return web.json_response({"stored": True, "witness_id": refusal.witness_id}, status=201)


async def witnesses(request: web.Request) -> web.Response:
    """Every witness the log has heard from: what it co-signed, what it refused."""
    ledger = _log(request)
    latest = ledger.store.latest_head()
    sizes = ledger.store.witness_sizes()
    refused: dict[bytes, list[tuple[int, Refusal]]] = {}
    for received_ms, refusal in ledger.store.refusals():
        refused.setdefault(refusal.witness_key, []).append((received_ms, refusal))
    rows = []
    for witness in sorted(set(sizes) | set(refused)):
        own = refused.get(witness, [])
        last = None
        if own:
            received_ms, refusal = own[-1]
            last = {**refusal.to_dict(), "received_ms": received_ms}
        rows.append(
            {
                "witness_id": key_id(public_key_from_bytes(witness)),
                "cosigned_size": sizes.get(witness),
                "refusals": len(own),
                "last_refusal": last,
            }
        )
    return web.json_response(
        {
            "tree_size": None if latest is None else latest.tree_size,
            "head_timestamp_ms": None if latest is None else latest.timestamp_ms,
            "witnesses": rows,
        }
    )


async def openings(request: web.Request) -> web.Response:
    token = request.app[TOKEN]
    given = request.headers.get("Authorization", "").removeprefix("Bearer ")
    if not token or not hmac.compare_digest(given.encode(), token.encode()):
        raise web.HTTPForbidden(text="disclosures need the disclosure token")
    ledger = _log(request)
    index = _int(request, "index")
    rows = ledger.store.entries(index, index + 1)
    if not rows or ledger.openings is None:
        raise web.HTTPNotFound(text=f"no entry {index}")
    opened = ledger.openings.get(rows[0].key)
    return web.json_response(
        {
            "index": index,
            "openings": [{"path": o.path, "salt": _b64(o.salt), "value": o.value} for o in opened],
        }
    )


async def metrics(request: web.Request) -> web.Response:
    ledger = _log(request)
    request.app[METRICS].tree_size.set(ledger.size)
    latest = ledger.store.latest_head()
    if latest is not None:
        request.app[METRICS].head_timestamp.set(latest.timestamp_ms / 1000)
        _observe_witnesses(request.app, ledger, latest.tree_size)
    body = generate_latest(request.app[REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def make_app(
    ledger: TransparencyLog,
    public_key: bytes,
    log_key_id: str,
    registry: CollectorRegistry,
    ledger_metrics: LedgerMetrics,
    disclosure_token: str = "",
) -> web.Application:
    """The aiohttp application over a (read) connection to the log."""
    app = web.Application(client_max_size=64 * 1024)
    app[LOG], app[PUBLIC_KEY], app[LOG_KEY_ID] = ledger, public_key, log_key_id
    app[TOKEN], app[REGISTRY], app[METRICS] = disclosure_token, registry, ledger_metrics
    app.router.add_get("/ledger/v1/head", head)
    app.router.add_get("/ledger/v1/entries", entries)
    app.router.add_get("/ledger/v1/proof/inclusion", inclusion)
    app.router.add_get("/ledger/v1/proof/consistency", consistency)
    app.router.add_post("/ledger/v1/cosignatures", add_cosignature)
    app.router.add_post("/ledger/v1/refusals", add_refusal)
    app.router.add_get("/ledger/v1/witnesses", witnesses)
    app.router.add_get("/ledger/v1/openings", openings)
    app.router.add_get("/metrics", metrics)
    return app
