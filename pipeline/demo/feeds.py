"""The demo's connectors: the example deployment's feeds (real public samples) and its push
ingest endpoint run beside the simulator, so the feed-health panels have real traffic.

The simulator pushes one operator's evidence through the ingest API every
:data:`PUSH_EVERY_S` seconds, once a minute also a record for a service the operator never
declared (refused, as a misconfigured operator's would be).

>>> body = push_body(1_700_000_000.0, known=True)
>>> body[0]["service_id"], body[0]["kind"], body[0]["customers_affected"]
('energy.aes.grid', 'outage_report', 0)
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from pipeline.config.settings import Settings
from pipeline.core.timeutil import format_rfc3339
from pipeline.ops import localstack

DEMO_CONFIG = localstack.REPO / "connectors" / "examples" / "demo.yaml"
FEEDS = "connectors-demo"
INGEST = "ingest-demo"
FEEDS_METRICS_PORT = 19465
INGEST_PORT = 18480
#: The demo ingest's loopback-only /metrics (its public port wants the metrics token).
INGEST_METRICS_PORT = 19467
#: The example config's documented demo token for operator ``aes-ohio``.
PUSH_TOKEN = "demo-token-aes-ohio"
PUSH_EVERY_S = 15.0


def start_demo_connectors(settings: Settings, env: dict[str, str] | None = None) -> list[Path]:
    """Start the example feeds and the push ingest server (no-ops when running); both are
    scraped by the local Prometheus. Returns their log files."""
    topic = settings.topics.observations
    kafka = ["--bootstrap-servers", settings.kafka_bootstrap, "--topic", topic]
    spool = localstack.state_dir() / "connectors" / "spool"
    feeds_log = localstack.start_background(
        FEEDS,
        localstack.python_argv(
            "connectors",
            "run",
            str(DEMO_CONFIG),
            *kafka,
            "--deadletter-topic",
            settings.topics.deadletter,
            "--spool-dir",
            str(spool),
            "--metrics-port",
            str(FEEDS_METRICS_PORT),
        ),
    )
    localstack.register_scrape_target(FEEDS, f"127.0.0.1:{FEEDS_METRICS_PORT}")
    ingest_log = localstack.start_background(
        INGEST,
        localstack.python_argv(
            "connectors",
            "serve-ingest",
            str(DEMO_CONFIG),
            *kafka,
            "--port",
            str(INGEST_PORT),
            "--metrics-port",
            str(INGEST_METRICS_PORT),
        ),
        env=env,
    )
    localstack.register_scrape_target(INGEST, f"127.0.0.1:{INGEST_METRICS_PORT}")
    return [feeds_log, ingest_log]


def push_body(at: float, *, known: bool) -> list[dict[str, Any]]:
    """One outage report for ``aes-ohio``'s grid (or for a service it never declared)."""
    return [
        {
            "service_id": "energy.aes.grid" if known else "energy.aes.undeclared",
            "kind": "outage_report",
            "observed_at": format_rfc3339(at),
            "customers_served": 535_000,
            "customers_affected": 0,
        }
    ]


def push(url: str, token: str, body: list[dict[str, Any]]) -> int:
    """POST ``body`` to the ingest API; returns the HTTP status (0 when unreachable)."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        with error:
            return int(error.code)
    except OSError:
        return 0
