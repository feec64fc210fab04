"""Loopback ports for the processes the project starts itself (tests, bench, local clusters).

A port the OS hands out for ``bind(("127.0.0.1", 0))`` comes from its ephemeral range, the
range it also draws the *source* ports of outgoing connections from. A process told to
listen on such a port a moment later (or again after a restart) can find it taken by any
connection opened meanwhile: seen in CI, a worker's metrics port taken before the worker
bound it. :func:`free_port` therefore hands out ports *below* the ephemeral range, where
only explicit binds land, each one checked by binding it, from a window that depends on the
process (so two test runs side by side rarely try the same ports) and never twice in one
process.

>>> port = free_port()
>>> low, _high = ephemeral_range()
>>> FIRST_PORT <= port < low or low <= FIRST_PORT
True
>>> free_port() != port
True
"""

from __future__ import annotations

import itertools
import os
import socket
from pathlib import Path

#: Where the handed-out ports start: above the fixed ports of the local stack (InfluxDB
#: 18086, Prometheus 19090, Kafka 19092) and the well-known ones.
FIRST_PORT = 20_000

#: Linux's default ephemeral range, if /proc does not say.
DEFAULT_EPHEMERAL = (32_768, 60_999)

_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_cursor = itertools.count(os.getpid() * 7919)


def ephemeral_range() -> tuple[int, int]:
    """The OS's range of ephemeral (source) ports, inclusive."""
    try:
        low, high = (int(part) for part in _RANGE_FILE.read_text().split())
    except (OSError, ValueError):
        return DEFAULT_EPHEMERAL
    return low, high


def _binds(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    """A loopback port that is free now and outside the ephemeral range (see above)."""
    low, _high = ephemeral_range()
    span = low - FIRST_PORT
    if span < 1_000:  # an unusual range: let the OS pick
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            picked: int = sock.getsockname()[1]
            return picked
    for _attempt in range(span):
        port = FIRST_PORT + next(_cursor) % span
        if _binds(port):
            return port
    raise RuntimeError(f"no free loopback port in {FIRST_PORT}..{low - 1}")
