"""InfluxDB 1.8 housekeeping the v2 client cannot do: create and drop databases.

On 1.8 a v2 "bucket" is ``database/retention-policy``; the database must exist first.
"""

from __future__ import annotations

import urllib.parse
import urllib.request


def influxql(url: str, statement: str, *, timeout: float = 10.0) -> bytes:
    """Run one InfluxQL statement through ``POST /query``; raises on HTTP errors."""
    body = urllib.parse.urlencode({"q": statement}).encode()
    request = urllib.request.Request(f"{url.rstrip('/')}/query", data=body, method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        payload: bytes = response.read()
    if b'"error"' in payload:
        raise RuntimeError(f"InfluxQL {statement!r} failed: {payload.decode(errors='replace')}")
    return payload


def ensure_database(url: str, bucket: str) -> None:
    """Create the database part of ``bucket`` (``db/rp``) if missing (idempotent)."""
    database = bucket.split("/", 1)[0]
    influxql(url, f'CREATE DATABASE "{database}"')


def drop_database(url: str, bucket: str) -> None:
    database = bucket.split("/", 1)[0]
    influxql(url, f'DROP DATABASE "{database}"')
