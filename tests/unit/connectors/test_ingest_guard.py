"""The ingest connection guard's bookkeeping with a hand-driven clock."""

from __future__ import annotations

import asyncio
from typing import Any

from connectors.ingest_guard import ConnectionGuard, ConnectionLimits


class Transport(asyncio.BaseTransport):
    def __init__(self, peer: str) -> None:
        super().__init__()
        self.peer = peer
        self.aborted = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return (self.peer, 1234) if name == "peername" else None

    def abort(self) -> None:
        self.aborted = True


def guard(now: list[float]) -> ConnectionGuard:
    limits = ConnectionLimits(header_timeout=2, idle_timeout=10, per_client=2, total=3)
    return ConnectionGuard(limits, clock=lambda: now[0])


def test_limits_per_client_and_overall() -> None:
    g = guard([0.0])
    a1, a2, a3, b1, c1 = (Transport(p) for p in ("a", "a", "a", "b", "c"))
    assert [g._admit(t) for t in (a1, a2, a3, b1, c1)] == [True, True, False, True, False]
    g._release(a1)
    assert g._admit(Transport("a"))
    assert g.refused == 2


def test_a_partial_request_head_is_cut_after_the_header_timeout() -> None:
    now = [0.0]
    g = guard(now)
    slow, idle = Transport("a"), Transport("b")
    g._admit(slow)
    g._admit(idle)
    now[0] = 1.0
    g._received(slow)  # the first bytes of a head...
    now[0] = 2.5
    g._received(slow)  # ...trickling in keeps it alive only until the head deadline
    assert g.sweep() == 0
    now[0] = 3.5
    assert g.sweep() == 1
    assert (slow.aborted, idle.aborted) == (True, False)
    g._release(slow)  # what the event loop's connection_lost does after an abort
    now[0] = 10.5  # an idle connection goes after the idle timeout
    assert g.sweep() == 1
    assert idle.aborted
