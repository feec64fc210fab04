"""Rows of a ``timestamp,value`` CSV for ``continuity detect``: every row is accounted for.

A first line is a header only when it looks like one (two names, such as
``timestamp,value``); otherwise a bad first row is a bad row like any other. A bad row (no
value, a value that is not a finite number, a timestamp that does not parse or goes back in
time) is reported with its line number and not scored; the rows after it still are.

>>> rows = list(read_rows(["timestamp,value", "1,2", "2,", "0,5", "3,nan", "4,1.5"]))
>>> [(r.lineno, r.value, r.problem) for r in rows]  # doctest: +NORMALIZE_WHITESPACE
[(2, 2.0, None), (3, None, 'empty value'), (4, None, 'timestamp goes back in time (line 2)'),
 (5, None, 'value is not a finite number'), (6, 1.5, None)]
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

#: Epoch numbers above this are milliseconds (1e11 s is the year 5138).
_MS_THRESHOLD = 1e11


def parse_timestamp(text: str) -> float:
    """Epoch seconds from RFC 3339 / ISO 8601 (no offset = UTC), ``YYYY-MM-DD HH:MM:SS``
    (UTC), epoch seconds or epoch milliseconds. Raises ValueError otherwise."""
    raw = text.strip().strip('"')
    try:
        number = float(raw)
    except ValueError:
        pass
    else:
        if not math.isfinite(number):
            raise ValueError(f"timestamp {text!r} is not finite")
        return number / 1000.0 if abs(number) >= _MS_THRESHOLD else number
    candidate = raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw
    try:
        moment = datetime.fromisoformat(candidate)
    except ValueError:
        raise ValueError(
            f"{raw!r} is not RFC 3339, 'YYYY-MM-DD HH:MM:SS', epoch seconds or milliseconds"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # naive times in a backtest CSV are taken as UTC
    return moment.timestamp()


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_ .()/-]*$")


@dataclass(frozen=True, slots=True)
class Row:
    """One data line: ``timestamp``/``value`` when it can be scored, else ``problem``."""

    lineno: int
    raw_timestamp: str
    timestamp: float | None
    value: float | None
    problem: str | None


def looks_like_header(parts: list[str]) -> bool:
    """Two column names (letters first), not data."""
    return len(parts) >= 2 and all(_NAME.match(p.strip('"')) for p in parts[:2])


def read_rows(lines: Iterable[str]) -> Iterator[Row]:
    """Every non-blank line after an optional header, in order, good or bad."""
    first = True
    last_good: tuple[int, float] | None = None
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.rstrip("\r\n").split(",")]
        if first:
            first = False
            if looks_like_header(parts):
                continue
        raw_ts = parts[0].strip('"')
        try:
            ts = parse_timestamp(parts[0])
        except ValueError as exc:
            yield Row(lineno, raw_ts, None, None, f"timestamp: {exc}")
            continue
        if len(parts) < 2 or not parts[1].strip('"'):
            yield Row(lineno, raw_ts, ts, None, "empty value")
            continue
        try:
            value = float(parts[1].strip('"'))
        except ValueError:
            yield Row(lineno, raw_ts, ts, None, f"value {parts[1]!r} is not a number")
            continue
        if not math.isfinite(value):
            yield Row(lineno, raw_ts, ts, None, "value is not a finite number")
            continue
        if last_good is not None and ts < last_good[1]:
            yield Row(
                lineno, raw_ts, ts, None, f"timestamp goes back in time (line {last_good[0]})"
            )
            continue
        last_good = (lineno, ts)
        yield Row(lineno, raw_ts, ts, value, None)
