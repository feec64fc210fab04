"""A bounded on-disk spool: what could not reach Kafka waits here and is replayed later.

Append-only JSON lines (``{"topic", "key", "value_b64"}``), fsynced per batch so a record the
spool accepted survives a crash.  The spool is bounded by bytes: when full it refuses new
records and counts them (``overflowed``) rather than growing until the disk is gone.  Replay
is at-least-once: a crash mid-replay may resend records, which ``event_id`` dedup absorbs.

>>> import tempfile
>>> spool = Spool(Path(tempfile.mkdtemp()), max_bytes=1_000)
>>> spool.append([("cw.observations", "svc", b'{"a": 1}')])
1
>>> spool.replay(lambda topic, key, value: True)
1
>>> spool.pending()
0
"""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import orjson

SpoolRecord = tuple[str, str | None, bytes]  # topic, key, value

_FILE = "spool.jsonl"


class Spool:
    """Thread-safe (Kafka delivery callbacks run on the producer's I/O thread)."""

    def __init__(self, directory: Path, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.directory = directory
        self.path = directory / _FILE
        self.max_bytes = max_bytes
        self.overflowed = 0
        self.corrupt = 0
        self._lock = threading.Lock()
        self._count: int | None = None

    def append(self, records: Iterable[SpoolRecord]) -> int:
        """Durably store records; returns how many were accepted (the rest overflowed)."""
        lines = [_encode(record) for record in records]
        if not lines:
            return 0
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            size = self.path.stat().st_size if self.path.exists() else 0
            accepted: list[bytes] = []
            for line in lines:
                if size + len(line) > self.max_bytes:
                    self.overflowed += 1
                    continue
                accepted.append(line)
                size += len(line)
            if accepted:
                with self.path.open("ab") as handle:
                    handle.write(b"".join(accepted))
                    handle.flush()
                    os.fsync(handle.fileno())
                self._count = self._pending_locked() if self._count is None else self._count
                self._count += len(accepted)
            return len(accepted)

    def pending(self) -> int:
        """Records waiting for replay."""
        with self._lock:
            if self._count is None:
                self._count = self._pending_locked()
            return self._count

    def _pending_locked(self) -> int:
        if not self.path.exists():
            return 0
        with self.path.open("rb") as handle:
            return sum(1 for line in handle if line.strip())

    def replay(self, send: Callable[[str, str | None, bytes], bool]) -> int:
        """Send spooled records in order until one fails; keep the rest. Returns records sent.

        ``send`` must return True only once the record is durably acknowledged.
        """
        with self._lock:
            if not self.path.exists():
                return 0
            lines = self.path.read_bytes().splitlines(keepends=True)
            sent = 0
            for index, line in enumerate(lines):
                record = _decode(line)
                if record is None:
                    # A torn last line from a crash mid-append: count it, do not wedge replay.
                    self.corrupt += 1 if line.strip() else 0
                    continue
                if not send(*record):
                    self._rewrite(lines[index:])
                    return sent
                sent += 1
            self.path.unlink()
            self._count = 0
            return sent

    def _rewrite(self, remaining: list[bytes]) -> None:
        temporary = self.path.with_suffix(".tmp")
        with temporary.open("wb") as handle:
            handle.write(b"".join(remaining))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)
        self._count = sum(1 for line in remaining if line.strip())


def _encode(record: SpoolRecord) -> bytes:
    topic, key, value = record
    payload = {"topic": topic, "key": key, "value_b64": base64.b64encode(value).decode("ascii")}
    return orjson.dumps(payload) + b"\n"


def _decode(line: bytes) -> SpoolRecord | None:
    try:
        data = orjson.loads(line)
        topic, key = data["topic"], data["key"]
        value = base64.b64decode(data["value_b64"], validate=True)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    if not isinstance(topic, str) or not (key is None or isinstance(key, str)):
        return None
    return topic, key, value
