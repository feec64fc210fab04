"""Shared decoding helpers for parsers: bounded JSON/CSV/XML decoding that never raises.

Each helper returns either the decoded value or a :class:`~connectors.base.Rejection`, so a
parser reads as a straight line of ``if isinstance(x, Rejection): return`` steps.
"""

from __future__ import annotations

import csv
import io
import math
import xml.etree.ElementTree as ET
from typing import Any

import orjson

from connectors.base import FeedContext, ParseResult, Rejection
from pipeline.core.timeutil import parse_rfc3339

#: Whole-feed size cap; a feed larger than this is refused, not parsed.
MAX_FEED_BYTES = 32 * 1024 * 1024


def too_big(raw: bytes, ctx: FeedContext, limit: int = MAX_FEED_BYTES) -> Rejection | None:
    if len(raw) > limit:
        return ctx.reject("oversize", None, f"{len(raw)} bytes exceeds the limit of {limit}", raw)
    return None


def load_json(raw: bytes, ctx: FeedContext) -> Any | Rejection:
    """Decode JSON, refusing oversize input and anything orjson refuses."""
    if (big := too_big(raw, ctx)) is not None:
        return big
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return ctx.reject("malformed_json", None, str(exc), raw)


def load_csv(raw: bytes, ctx: FeedContext) -> list[dict[str, str]] | Rejection:
    """Decode UTF-8 CSV with a header row into dicts (keys stripped and lower-cased)."""
    if (big := too_big(raw, ctx)) is not None:
        return big
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return ctx.reject("malformed_csv", None, f"not UTF-8: {exc}", raw)
    try:
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        rows = list(reader)
    except csv.Error as exc:
        return ctx.reject("malformed_csv", None, str(exc), raw)
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        return ctx.reject("malformed_csv", None, "no header row", raw)
    header = [name.strip().lower() for name in rows[0]]
    out: list[dict[str, str]] = []
    for line_no, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            return ctx.reject(
                "malformed_csv",
                None,
                f"row {line_no} has {len(row)} cells, header has {len(header)}",
                raw,
            )
        out.append({name: cell.strip() for name, cell in zip(header, row, strict=True)})
    return out


def load_rows(
    raw: bytes, ctx: FeedContext, key: str, *, fmt: str = "auto"
) -> list[Any] | Rejection:
    """Rows of a tabular feed: a JSON list, a JSON object ``{key: [...]}``, or CSV with a
    header; ``fmt`` is ``csv``, ``json`` or ``auto`` (decided by the first byte)."""
    if fmt == "csv" or (fmt == "auto" and raw.lstrip()[:1] not in (b"[", b"{")):
        return load_csv(raw, ctx)
    data = load_json(raw, ctx)
    if isinstance(data, Rejection):
        return data
    rows = data.get(key) if isinstance(data, dict) else data
    if not isinstance(rows, list):
        return ctx.reject("unexpected_format", None, f'expected a list or {{"{key}": [...]}}', raw)
    return rows


def load_xml(raw: bytes, ctx: FeedContext) -> ET.Element | Rejection:
    """Parse XML, refusing DTDs outright: outage feeds never need entities, attackers do."""
    if (big := too_big(raw, ctx)) is not None:
        return big
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        return ctx.reject("malformed_xml", None, "DTDs and entities are not accepted", raw)
    try:
        return ET.fromstring(raw)
    except ET.ParseError as exc:
        return ctx.reject("malformed_xml", None, str(exc), raw)
    except (ValueError, UnicodeError) as exc:  # e.g. an encoding declaration Python lacks
        return ctx.reject("malformed_xml", None, str(exc), raw)


def snippet(value: Any) -> bytes:
    """The JSON bytes of one record, used as a rejection's original for a single bad entry."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return repr(value).encode("utf-8", "replace")


def as_count(value: Any) -> int | None:
    """A non-negative whole number from JSON or CSV text, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    if isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
        return int(value.strip())
    return None


def as_number(value: Any) -> float | None:
    """A finite number from JSON or CSV text, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def as_time(value: Any) -> float | None:
    """Epoch seconds from an RFC 3339 string or an epoch number; None when neither."""
    if isinstance(value, str):
        try:
            return parse_rfc3339(value)
        except ValueError:
            number = as_number(value)
            return number if number is not None and number > 0 else None
    number = as_number(value)
    return number if number is not None and number > 0 else None


def rejected(rejection: Rejection) -> ParseResult:
    """A result holding only this rejection."""
    return ParseResult(rejections=[rejection])


def sniff_format(raw: bytes) -> str | None:
    """What a text payload looks like, for saying what arrived instead of what was expected.

    >>> sniff_format(b'  {"header": {}}'), sniff_format(b"header {\\n  gtfs_realtime_version")
    ('JSON', 'protobuf text format')
    >>> sniff_format(b"\\x0a\\x0d") is None
    True
    """
    head = raw[:512].lstrip()
    if head[:1] in (b"{", b"["):
        return "JSON"
    if head[:1] == b"<":
        return "HTML" if head[:200].lower().find(b"<html") >= 0 else "XML"
    if head.startswith((b"header {", b"header{", b"entity {")):
        return "protobuf text format"
    return None


def describe_tag(tag: str) -> str:
    """An XML element name as written, with its namespace spelled out (never cut).

    >>> describe_tag("{urn:oasis:names:tc:emergency:cap:1.2}alert")
    '<alert> (namespace urn:oasis:names:tc:emergency:cap:1.2)'
    >>> describe_tag("Incidents")
    '<Incidents>'
    """
    if tag.startswith("{") and "}" in tag:
        namespace, _, local = tag[1:].partition("}")
        return f"<{local}> (namespace {namespace})"
    return f"<{tag}>"
