"""Writing a batch to InfluxDB so that one point it refuses never blocks the others.

InfluxDB answers 400 for a batch with an unwritable point (a value out of range, a field type
conflict) and may have written the rest ("partial write"). Retrying the same batch fails
forever, so a refused batch is split in halves until the refused points stand alone; writes
are idempotent (same series and timestamp overwrite), so writing a point twice is harmless.

>>> calls = []
>>> def write(batch):
...     calls.append(len(batch))
...     if "bad" in batch:
...         raise PointsRefused("out of range")
>>> write_isolating_refusals(write, ["a", "b", "bad", "c"])
[('bad', 'out of range')]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from influxdb_client.rest import ApiException

T = TypeVar("T")


class PointsRefused(Exception):
    """InfluxDB refused the batch for what it contains (a 4xx other than 404/429)."""


def raise_refusal(exc: BaseException) -> None:
    """Re-raise an InfluxDB client error as :class:`PointsRefused` when the points are at
    fault; anything else (connection, 5xx, missing database, throttling) is transient."""
    status = getattr(exc, "status", None)
    refused = isinstance(status, int) and 400 <= status < 500
    if isinstance(exc, ApiException) and refused and status not in (401, 403, 404, 408, 429):
        raise PointsRefused(str(exc.body or exc.reason or status)[:500]) from exc


def write_isolating_refusals(
    write: Callable[[Sequence[T]], None], batch: Sequence[T]
) -> list[tuple[T, str]]:
    """Write ``batch`` with ``write`` (which raises :class:`PointsRefused` for refused
    points); returns the refused items with InfluxDB's reason. Transient errors propagate."""
    if not batch:
        return []
    try:
        write(batch)
        return []
    except PointsRefused as exc:
        if len(batch) == 1:
            return [(batch[0], str(exc))]
    middle = len(batch) // 2
    return write_isolating_refusals(write, batch[:middle]) + write_isolating_refusals(
        write, batch[middle:]
    )
