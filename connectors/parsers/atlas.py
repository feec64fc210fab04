"""RIPE Atlas-style ping results → multi-vantage probes.

Input is the Atlas result format: a JSON list of ping results (or one result, or JSON lines),
each with ``prb_id`` (the vantage, as ``atlas:<prb_id>``), ``timestamp`` (epoch s), ``sent``,
``rcvd``, ``avg`` (ms, -1 when nothing came back), ``dst_addr`` / ``dst_name`` and ``msm_id``.
A result maps to a service by ``msm_id``, then ``dst_name``, then ``dst_addr``, else the
default service.  Status: nothing received → *down*; loss above ``degraded_loss`` →
*degraded*; else *up*; ``value`` is the average RTT in seconds.

>>> from connectors.base import FeedContext, ServiceSpec
>>> svc = ServiceSpec("op", "dns.kyiv", "telecom", "UA-30", 60.0)
>>> ctx = FeedContext(source="atlas", now=1_700_000_100.0, default_service=svc)
>>> raw = b'[{"prb_id": 6001, "timestamp": 1700000000, "sent": 3, "rcvd": 0, "avg": -1}]'
>>> [(o.vantage, o.status.value) for o in parse_atlas_ping(raw, ctx).observations]
[('atlas:6001', 'down')]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from connectors.base import FeedContext, OptionsError, ParseResult, Rejection
from connectors.parsers._common import as_count, as_number, load_json, rejected, snippet, too_big
from pipeline.core.schema import Kind, Status


@dataclass(frozen=True, slots=True)
class AtlasPingOptions:
    degraded_loss: float = 0.2

    def __post_init__(self) -> None:
        if not 0 <= self.degraded_loss < 1:
            raise OptionsError("degraded_loss", "must be in [0, 1)")


def parse_atlas_ping(
    raw: bytes, ctx: FeedContext, options: AtlasPingOptions | None = None
) -> ParseResult:
    """Map Atlas ping results (see module docstring); one bad result rejects only itself."""
    opts = options or AtlasPingOptions()
    items = _items(raw, ctx)
    if isinstance(items, Rejection):
        return rejected(items)
    result = ParseResult()
    for index, item in enumerate(items):
        _one(item, f"[{index}]", ctx, opts, result)
    return result


def _items(raw: bytes, ctx: FeedContext) -> list[Any] | Rejection:
    stripped = raw.strip()
    if stripped.startswith(b"{") and b"\n" in stripped:
        # JSON lines: what the Atlas streaming API and `ripe-atlas` CLI write.
        if (big := too_big(raw, ctx)) is not None:
            return big
        try:
            return [orjson.loads(line) for line in stripped.splitlines() if line.strip()]
        except orjson.JSONDecodeError:
            pass  # perhaps one pretty-printed object: fall through to a whole-body parse
    data = load_json(raw, ctx)
    if isinstance(data, Rejection):
        return data
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list):
        return data
    return ctx.reject("unexpected_format", None, "expected a result object or a list", raw)


def _one(item: Any, where: str, ctx: FeedContext, opts: AtlasPingOptions, out: ParseResult) -> None:
    original = snippet(item)
    if not isinstance(item, dict):
        out.add(ctx.reject("invalid_field", where, "result must be an object", original))
        return
    if item.get("type", "ping") != "ping":
        out.skipped["not_a_ping"] += 1
        return
    values: list[int] = []
    for name in ("prb_id", "timestamp", "sent", "rcvd"):
        value = as_count(item.get(name))
        if value is None:
            reason, detail = (
                ("missing_field", "is required")
                if name not in item
                else ("invalid_field", "must be a non-negative integer")
            )
            out.add(ctx.reject(reason, f"{where}.{name}", detail, original))
            return
        values.append(value)
    probe, stamp, sent, rcvd = values
    if rcvd > sent:
        out.add(ctx.reject("invalid_field", f"{where}.rcvd", f"{rcvd} > sent {sent}", original))
        return
    service = next(
        (
            ctx.services[str(k)]
            for k in (item.get("msm_id"), item.get("dst_name"), item.get("dst_addr"))
            if k is not None and str(k) in ctx.services
        ),
        ctx.default_service,
    )
    if service is None:
        out.skipped["unmapped_target"] += 1
        return
    loss = 1.0 - rcvd / sent if sent else 1.0
    if rcvd == 0:
        status = Status.DOWN
    else:
        status = Status.DEGRADED if loss > opts.degraded_loss else Status.UP
    avg = as_number(item.get("avg"))
    rtt = avg / 1000.0 if avg is not None and avg >= 0 and rcvd else None
    attrs: dict[str, Any] = {"sent": sent, "rcvd": rcvd, "loss": round(loss, 4)}
    for key in ("msm_id", "dst_addr", "dst_name", "af"):
        if isinstance(item.get(key), str | int) and not isinstance(item.get(key), bool):
            attrs[key] = item[key] if isinstance(item[key], int) else item[key][:128]
    out.add(
        ctx.observe(
            service,
            kind=Kind.PROBE,
            observed_at=float(stamp),
            status=status,
            vantage=f"atlas:{probe}",
            metric="rtt_avg" if rtt is not None else None,
            value=rtt,
            unit="s" if rtt is not None else None,
            attrs=attrs,
            id_parts=(item.get("msm_id"),),
            original=original,
        )
    )
