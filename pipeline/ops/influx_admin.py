"""InfluxDB 1.8 housekeeping the v2 client cannot do: create and drop databases.

On 1.8 a v2 "bucket" is ``database/retention-policy``; the database must exist first. With
``auth-enabled = true`` every call carries the same token as the writes (``user:password``,
CW_INFLUX_TOKEN or CW_INFLUX_TOKEN_FILE); creating a database needs an admin user.

>>> print(InfluxAuthError.for_status("http://127.0.0.1:8086", 401))
InfluxDB at http://127.0.0.1:8086 refused the credentials (HTTP 401): set CW_INFLUX_TOKEN_FILE \
(or CW_INFLUX_TOKEN) to `user:password` of a user with access to the database
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request


class InfluxAuthError(RuntimeError):
    """InfluxDB refused the token (401) or the user's rights (403); the message says what to
    set."""

    @classmethod
    def for_status(cls, url: str, status: int) -> InfluxAuthError:
        problem = "the credentials" if status == 401 else "this user the operation"
        return cls(
            f"InfluxDB at {url} refused {problem} (HTTP {status}): set CW_INFLUX_TOKEN_FILE "
            "(or CW_INFLUX_TOKEN) to `user:password` of a user with access to the database"
        )


def influxql(url: str, statement: str, *, token: str | None = None, timeout: float = 10.0) -> bytes:
    """Run one InfluxQL statement through ``POST /query``; raises on HTTP errors
    (:class:`InfluxAuthError` when InfluxDB refuses the token)."""
    body = urllib.parse.urlencode({"q": statement}).encode()
    request = urllib.request.Request(f"{url.rstrip('/')}/query", data=body, method="POST")
    if token:
        request.add_header("Authorization", f"Token {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload: bytes = response.read()
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise InfluxAuthError.for_status(url, exc.code) from None
        raise
    if b'"error"' in payload:
        if b"admin privilege" in payload or b"not authorized" in payload:
            raise InfluxAuthError.for_status(url, 403)
        raise RuntimeError(f"InfluxQL {statement!r} failed: {payload.decode(errors='replace')}")
    return payload


def ensure_database(url: str, bucket: str, *, token: str | None = None) -> None:
    """Create the database part of ``bucket`` (``db/rp``) if missing (idempotent)."""
    database = bucket.split("/", 1)[0]
    influxql(url, f'CREATE DATABASE "{database}"', token=token)


def drop_database(url: str, bucket: str, *, token: str | None = None) -> None:
    database = bucket.split("/", 1)[0]
    influxql(url, f'DROP DATABASE "{database}"', token=token)
