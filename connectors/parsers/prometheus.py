"""Prometheus scrapes → probes and KPIs.

Reads the text exposition format (a target's ``/metrics``, a blackbox_exporter ``/probe``)
or the HTTP API JSON (``/api/v1/query`` vector, ``query_range`` matrix: how ``up`` is read,
since targets never expose it themselves).

* ``up`` and ``probe_success``: a ``probe``, *up* for 1 and *down* for 0; for
  ``probe_success`` the value is ``probe_duration_seconds`` (latency) when present.
* every metric named in ``gauges`` (name → unit): a ``kpi`` with that value.
* ``probe_ssl_earliest_cert_expiry``: a ``kpi`` ``tls_expiry`` in seconds from the sample
  time, so certificate expiry is visible before it is an outage.

A series maps to a service by the value of its ``service_label`` label (default ``instance``),
else the default service.  Time: the sample timestamp when given, else the scrape time.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from connectors.base import FeedContext, ParseResult, Rejection
from connectors.parsers._common import as_number, load_json, rejected, too_big
from pipeline.core.schema import Kind, Status

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE = re.compile(
    rf"^(?P<name>{_NAME})(?:\{{(?P<labels>.*)\}})?\s+(?P<value>\S+)(?:\s+(?P<ts>-?\d+))?\s*$"
)
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')
_ESCAPES = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}
_MAX_LINES = 200_000
_MAX_LINE_CHARS = 64 * 1024  # the sample regex backtracks; bound its input


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float
    timestamp: float | None  # epoch seconds


@dataclass(frozen=True, slots=True)
class PrometheusOptions:
    service_label: str = "instance"
    vantage_label: str | None = None
    vantage: str | None = None
    gauges: dict[str, str] = field(default_factory=dict)


def parse_exposition(raw: bytes, ctx: FeedContext) -> list[Sample] | Rejection:
    """Text exposition → samples; the first malformed line rejects the scrape (names it).

    >>> from connectors.base import FeedContext
    >>> parse_exposition(b'up{job="a"} 1 1700000000000\\n', FeedContext("s", 0.0))
    [Sample(name='up', labels={'job': 'a'}, value=1.0, timestamp=1700000000.0)]
    """
    if (big := too_big(raw, ctx)) is not None:
        return big
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return ctx.reject("unexpected_format", None, f"not UTF-8: {exc}", raw)
    samples: list[Sample] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if number > _MAX_LINES:
            return ctx.reject("oversize", None, f"more than {_MAX_LINES} lines", raw)
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if len(line) > _MAX_LINE_CHARS:
            return ctx.reject("oversize", f"line {number}", f"longer than {_MAX_LINE_CHARS}", raw)
        parsed = _sample(line)
        if parsed is None:
            return ctx.reject("unexpected_format", f"line {number}", f"{line[:80]!r}", raw)
        samples.append(parsed)
    return samples


def _sample(line: str) -> Sample | None:
    match = _SAMPLE.match(line)
    if match is None:
        return None
    labels: dict[str, str] = {}
    body = match["labels"] or ""
    position = 0
    while position < len(body.rstrip()):
        label = _LABEL.match(body, position)
        if label is None or label.end() == position:
            return None
        labels[label[1]] = re.sub(r'\\[\\"n]', lambda m: _ESCAPES[m[0]], label[2])
        position = label.end()
    text = match["value"]
    try:
        value = float(text)  # accepts NaN, +Inf, -Inf as the format does
    except ValueError:
        return None
    ts = int(match["ts"]) / 1000.0 if match["ts"] else None
    return Sample(match["name"], labels, value, ts)


def parse_query_api(raw: bytes, ctx: FeedContext) -> list[Sample] | Rejection:
    """``/api/v1/query`` (vector) or ``query_range`` (matrix) JSON → samples."""
    data = load_json(raw, ctx)
    if isinstance(data, Rejection):
        return data
    body = data.get("data") if isinstance(data, dict) else None
    if not isinstance(data, dict) or data.get("status") != "success" or not isinstance(body, dict):
        return ctx.reject("unexpected_format", "status", "not a successful API response", raw)
    kind, results = body.get("resultType"), body.get("result")
    if kind not in ("vector", "matrix") or not isinstance(results, list):
        return ctx.reject("unexpected_format", "data.resultType", f"{kind!r} unsupported", raw)
    samples: list[Sample] = []
    for index, series in enumerate(results):
        metric = series.get("metric") if isinstance(series, dict) else None
        if not isinstance(metric, dict):
            return ctx.reject("invalid_field", f"data.result[{index}].metric", "missing", raw)
        labels = {str(k): str(v) for k, v in metric.items()}
        name = labels.pop("__name__", "")
        points = [series.get("value")] if kind == "vector" else series.get("values")
        if not isinstance(points, list):
            return ctx.reject("invalid_field", f"data.result[{index}]", "no values", raw)
        for point in points:
            pair = _point(point)
            if pair is None:
                return ctx.reject(
                    "invalid_field", f"data.result[{index}]", "value must be [time, 'number']", raw
                )
            samples.append(Sample(name, labels, pair[1], pair[0]))
    return samples


def _point(point: Any) -> tuple[float, float] | None:
    if not isinstance(point, list) or len(point) != 2 or not isinstance(point[1], str):
        return None
    stamp = as_number(point[0])
    try:
        value = float(point[1])
    except ValueError:
        return None
    return (stamp, value) if stamp is not None else None


def parse_prometheus_text(
    raw: bytes, ctx: FeedContext, options: PrometheusOptions | None = None
) -> ParseResult:
    """Text exposition → evidence (see module docstring)."""
    samples = parse_exposition(raw, ctx)
    if isinstance(samples, Rejection):
        return rejected(samples)
    return samples_to_evidence(samples, ctx, options or PrometheusOptions())


def parse_prometheus_query(
    raw: bytes, ctx: FeedContext, options: PrometheusOptions | None = None
) -> ParseResult:
    """HTTP API JSON → evidence (see module docstring)."""
    samples = parse_query_api(raw, ctx)
    if isinstance(samples, Rejection):
        return rejected(samples)
    return samples_to_evidence(samples, ctx, options or PrometheusOptions())


def samples_to_evidence(
    samples: list[Sample], ctx: FeedContext, opts: PrometheusOptions
) -> ParseResult:
    result = ParseResult()
    durations = {
        _series_key(s, opts): s.value for s in samples if s.name == "probe_duration_seconds"
    }
    for sample in samples:
        if sample.name in ("up", "probe_success"):
            _probe(sample, durations.get(_series_key(sample, opts)), ctx, opts, result)
        elif sample.name in opts.gauges:
            _kpi(sample, sample.name, sample.value, opts.gauges[sample.name], ctx, opts, result)
        elif sample.name == "probe_ssl_earliest_cert_expiry":
            moment = sample.timestamp if sample.timestamp is not None else ctx.now
            _kpi(sample, "tls_expiry", sample.value - moment, "s", ctx, opts, result)
        else:
            result.skipped["metric_not_mapped"] += 1
    return result


def _series_key(sample: Sample, opts: PrometheusOptions) -> tuple[str | None, str | None]:
    vantage = sample.labels.get(opts.vantage_label) if opts.vantage_label else None
    return sample.labels.get(opts.service_label), vantage


def _context(
    sample: Sample, ctx: FeedContext, opts: PrometheusOptions, result: ParseResult
) -> tuple[Any, float, str | None] | None:
    service = ctx.resolve(sample.labels.get(opts.service_label))
    if service is None:
        result.skipped["unmapped_series"] += 1
        return None
    stamp = sample.timestamp if sample.timestamp is not None else ctx.now
    vantage = sample.labels.get(opts.vantage_label) if opts.vantage_label else None
    return service, stamp, vantage or opts.vantage


def _probe(
    sample: Sample,
    duration: float | None,
    ctx: FeedContext,
    opts: PrometheusOptions,
    result: ParseResult,
) -> None:
    found = _context(sample, ctx, opts, result)
    if found is None:
        return
    service, stamp, vantage = found
    if sample.value not in (0.0, 1.0):
        result.add(
            ctx.reject("invalid_field", sample.name, f"{sample.value} is not 0 or 1", _line(sample))
        )
        return
    latency = duration if sample.name == "probe_success" and duration is not None else None
    if latency is not None and not math.isfinite(latency):
        latency = None
    result.add(
        ctx.observe(
            service,
            kind=Kind.PROBE,
            observed_at=stamp,
            status=Status.UP if sample.value == 1.0 else Status.DOWN,
            vantage=vantage,
            metric="latency" if latency is not None else None,
            value=latency,
            unit="s" if latency is not None else None,
            attrs={"series": sample.name, **_small(sample.labels)},
            id_parts=(sample.name, sorted(sample.labels.items())),
            original=_line(sample),
        )
    )


def _kpi(
    sample: Sample,
    metric: str,
    value: float,
    unit: str,
    ctx: FeedContext,
    opts: PrometheusOptions,
    result: ParseResult,
) -> None:
    found = _context(sample, ctx, opts, result)
    if found is None:
        return
    service, stamp, vantage = found
    result.add(
        ctx.observe(
            service,
            kind=Kind.KPI,
            observed_at=stamp,
            vantage=vantage,
            metric=metric,
            value=value,
            unit=unit,
            attrs=_small(sample.labels),
            id_parts=(sample.name, sorted(sample.labels.items())),
            original=_line(sample),
        )
    )


def _small(labels: dict[str, str]) -> dict[str, str]:
    return {k[:64]: v[:128] for k, v in list(labels.items())[:16]}


def _line(sample: Sample) -> bytes:
    labels = ",".join(f'{k}="{v}"' for k, v in sample.labels.items())
    return f"{sample.name}{{{labels}}} {sample.value}".encode()
