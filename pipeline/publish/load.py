"""A bounded load against the status server: N requests at a fixed concurrency, reporting
the rate held and the latency distribution (what docs/benchmarks.md quotes).

    python -m pipeline.publish.load --url http://127.0.0.1:8090 -n 2000 -c 16 \\
        --path / --path /api/v2/summary.json

>>> percentile([1.0, 2.0, 3.0, 4.0], 0.5)
2.0
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import aiohttp
import click


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of ``values`` (``q`` in [0, 1])."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


async def run_load(
    url: str, requests: int, concurrency: int, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """``requests`` GETs of ``url`` by ``concurrency`` workers; latencies in seconds."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    remaining = iter(range(requests))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as http:

        async def worker() -> None:
            for _ in remaining:
                started = time.perf_counter()
                async with http.get(url) as response:
                    await response.read()
                    statuses[response.status] += 1
                latencies.append(time.perf_counter() - started)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    return {
        "url": url,
        "requests": requests,
        "concurrency": concurrency,
        "seconds": round(elapsed, 3),
        "requests_per_s": round(requests / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "max_ms": round(max(latencies) * 1000, 2),
        "statuses": dict(statuses),
    }


@click.command()
@click.option("--url", required=True, help="Base URL of a running continuity serve-status.")
@click.option("--path", "paths", multiple=True, default=["/"], show_default=True)
@click.option("-n", "--requests", type=int, default=2000, show_default=True)
@click.option("-c", "--concurrency", type=int, default=16, show_default=True)
@click.option("--token", default=None, help="Bearer token (operator or verifier view).")
def main(
    url: str, paths: tuple[str, ...], requests: int, concurrency: int, token: str | None
) -> None:
    """Print one JSON line per path."""
    headers = {"Authorization": f"Bearer {token}"} if token else None
    for path in paths:
        result = asyncio.run(run_load(url.rstrip("/") + path, requests, concurrency, headers))
        click.echo(json.dumps(result))


if __name__ == "__main__":
    main()
