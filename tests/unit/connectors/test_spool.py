from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from connectors.spool import Spool


def _records(n: int) -> list[tuple[str, str | None, bytes]]:
    return [("cw.observations", f"svc-{i}", f'{{"n": {i}}}'.encode()) for i in range(n)]


def _collect(into: list[bytes]) -> Callable[[str, str | None, bytes], bool]:
    def send(topic: str, key: str | None, value: bytes) -> bool:
        into.append(value)
        return True

    return send


def test_replay_keeps_order_and_stops_at_the_first_failure(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    assert spool.append(_records(5)) == 5
    seen: list[bytes] = []

    def flaky(topic: str, key: str | None, value: bytes) -> bool:
        if len(seen) == 3:
            return False
        seen.append(value)
        return True

    assert spool.replay(flaky) == 3
    assert spool.pending() == 2
    rest: list[bytes] = []
    assert spool.replay(_collect(rest)) == 2
    assert seen + rest == [r[2] for r in _records(5)]
    assert spool.pending() == 0
    assert not spool.path.exists()


def test_spool_survives_a_restart(tmp_path: Path) -> None:
    Spool(tmp_path).append(_records(3))
    reopened = Spool(tmp_path)
    assert reopened.pending() == 3
    got: list[bytes] = []
    reopened.replay(_collect(got))
    assert got == [r[2] for r in _records(3)]


def test_full_spool_refuses_and_counts(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=250)
    accepted = spool.append(_records(10))
    assert 0 < accepted < 10
    assert spool.overflowed == 10 - accepted
    assert spool.path.stat().st_size <= 250


def test_torn_last_line_is_skipped_not_fatal(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(_records(2))
    with spool.path.open("ab") as handle:
        handle.write(b'{"topic": "cw.obs')  # crash mid-append
    got: list[bytes] = []
    assert spool.replay(_collect(got)) == 2
    assert spool.corrupt == 1
