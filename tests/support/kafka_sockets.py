"""Closing the sockets kafka-python leaks while a broker is down.

kafka-python 3.0.12 leaks the socket of a refused connect(): ``kafka/net/inet.py``
``sock_connect`` raises without closing it, and the exception keeps it alive until interpreter
exit, where its ResourceWarning would fail the run. Tests that stop a broker while clients of
this process talk to it record every socket kafka-python makes and close them afterwards.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest


@contextmanager
def closing_kafka_sockets() -> Iterator[list[socket.socket]]:
    """Record kafka-python's sockets while the block runs; close them all when it ends."""
    from kafka.net.inet import KafkaNetSocket

    made: list[socket.socket] = []
    original = KafkaNetSocket.socket

    def recording(self: Any, *args: Any, **kwargs: Any) -> socket.socket:
        sock: socket.socket = original(self, *args, **kwargs)
        made.append(sock)
        return sock

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(KafkaNetSocket, "socket", recording)
        try:
            yield made
        finally:
            for sock in made:
                sock.close()
