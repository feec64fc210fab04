"""The worker's HTTP endpoint: ``/metrics`` (Prometheus) and ``/healthz`` (progress).

``/healthz`` answers 503 with the stalled partitions when any assigned partition has
unprocessed records and made no progress for the stall time, so a supervisor restarts a worker
that still answers ``/metrics`` but no longer processes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIServer, make_server

import orjson
from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer, _SilentHandler

from pipeline.worker.progress import PartitionProgress


def health_app(
    progress: PartitionProgress, metrics: Callable[..., Iterable[bytes]]
) -> Callable[..., Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/healthz":
            return metrics(environ, start_response)
        stalled = progress.stalled()
        body = orjson.dumps(
            {
                "status": "stalled" if stalled else "ok",
                "stalled": [{"topic": t, "partition": p, "backlog": b} for t, p, b in stalled],
            }
        )
        status = "503 Service Unavailable" if stalled else "200 OK"
        start_response(status, [("Content-Type", "application/json")])
        return [body]

    return app


def serve_metrics_and_health(
    host: str, port: int, registry: CollectorRegistry, progress: PartitionProgress
) -> WSGIServer:
    """Serve in a daemon thread; returns the server (``shutdown()`` stops it)."""
    app = health_app(progress, make_wsgi_app(registry))
    server = make_server(host, port, app, ThreadingWSGIServer, handler_class=_SilentHandler)
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    return server
