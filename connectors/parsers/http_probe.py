"""HTTP(S) active probe → ``probe`` observations.

The runner performs ``GET url`` and records the outcome in :class:`~connectors.base.FetchInfo`
(status code, latency, TLS certificate ``notAfter``); this parser turns it into evidence:

* *down*: connection/TLS/timeout error, a status outside ``expect_status``, or
  ``expect_body`` missing from the body;
* *degraded*: slower than ``degraded_latency_s``, or the certificate expires within
  ``tls_warn_days`` (an outage that has not happened yet);
* *up* otherwise.  ``value`` is the latency in seconds; ``attrs`` carry the status code and
  ``tls_expires_in_s``.

>>> from connectors.base import FeedContext, FetchInfo, ServiceSpec
>>> svc = ServiceSpec("op", "web", "telecom", "UA", 60.0)
>>> ctx = FeedContext("p", 1_700_000_000.0, svc, fetch=FetchInfo(http_status=502, latency_s=0.2))
>>> parse_http_probe(b"bad gateway", ctx).observations[0].status.value
'down'
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from connectors.base import FeedContext, OptionsError, ParseResult
from connectors.parsers._common import rejected
from pipeline.core.schema import Kind, Status


@dataclass(frozen=True, slots=True)
class HttpProbeOptions:
    #: Codes and ranges: "200-399", 200, "200,204,301-302" or [200, 204, "301-302"].
    expect_status: str = dataclasses.field(
        default="200-399",
        metadata={"list_separator": ",", "example": '200, "200-399" or [200, 204, "301-302"]'},
    )
    expect_body: str | None = None
    degraded_latency_s: float | None = None
    tls_warn_days: float = 14.0
    vantage: str | None = None

    def __post_init__(self) -> None:
        _ranges(self.expect_status)  # raises OptionsError when unreadable

    def accepts(self, code: int) -> bool:
        return any(low <= code <= high for low, high in _ranges(self.expect_status))


def _ranges(spec: str) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    try:
        for part in spec.split(","):
            low, _, high = part.strip().partition("-")
            out.append((int(low), int(high or low)))
    except ValueError:
        raise OptionsError(
            "expect_status",
            f'{spec!r}: use HTTP codes and ranges, e.g. 200, "200-399" or [200, 204, "301-302"]',
        ) from None
    return out


def parse_http_probe(
    raw: bytes, ctx: FeedContext, options: HttpProbeOptions | None = None
) -> ParseResult:
    opts = options or HttpProbeOptions()
    service = ctx.default_service
    if service is None:
        return rejected(ctx.reject("unknown_service", "service", "feed has no service", raw))
    fetch = ctx.fetch
    attrs: dict[str, Any] = {}
    status, problem = Status.UP, None
    if fetch is None or (fetch.http_status is None and fetch.error is None):
        status, problem = Status.UNKNOWN, "no fetch information"
    elif fetch.http_status is None:
        status, problem = Status.DOWN, f"fetch: {fetch.error}"
    else:
        attrs["http_status"] = fetch.http_status
        if not opts.accepts(fetch.http_status):
            status, problem = Status.DOWN, f"HTTP {fetch.http_status} not in {opts.expect_status}"
        elif opts.expect_body is not None and opts.expect_body.encode() not in raw:
            status, problem = Status.DOWN, f"body lacks {opts.expect_body[:40]!r}"
    latency = fetch.latency_s if fetch is not None and fetch.http_status is not None else None
    if status is Status.UP:
        slow = opts.degraded_latency_s
        if slow is not None and latency is not None and latency > slow:
            status, problem = Status.DEGRADED, f"latency {latency:.3f} s"
        if fetch is not None and fetch.tls_not_after is not None:
            remaining = fetch.tls_not_after - ctx.now
            attrs["tls_expires_in_s"] = round(remaining)
            if remaining < opts.tls_warn_days * 86400:
                status, problem = (
                    Status.DEGRADED,
                    f"certificate expires in {remaining / 86400:.1f} d",
                )
    if fetch is not None and fetch.url:
        attrs["url"] = fetch.url[:256]
    if problem:
        attrs["error"] = problem[:200]
    result = ParseResult()
    result.add(
        ctx.observe(
            service,
            kind=Kind.PROBE,
            observed_at=ctx.now,
            status=status,
            vantage=opts.vantage,
            metric="latency" if latency is not None else None,
            value=latency,
            unit="s" if latency is not None else None,
            attrs=attrs,
        )
    )
    return result
