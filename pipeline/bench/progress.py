"""A one-line progress display on stderr (redrawn on a terminal, periodic lines otherwise)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """``stage`` names what runs; ``update`` redraws at most ``hz`` times a second."""

    def __init__(self, stream: TextIO | None = None, *, hz: float = 4.0) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self.every = 1.0 / hz if self.tty else 5.0
        self._stage = ""
        self._stage_started = time.monotonic()
        self._last = 0.0
        self._dirty = False

    def stage(self, name: str, detail: str = "") -> None:
        self.end_line()
        self._stage = name
        self._stage_started = time.monotonic()
        self._write(f"[bench] {name}{': ' + detail if detail else ''}\n")

    def update(self, done: float, total: float, unit: str = "obs", *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.every:
            return
        self._last = now
        elapsed = max(1e-9, now - self._stage_started)
        pct = 100.0 * done / total if total else 0.0
        text = (
            f"  {self._stage:<10} {done:>12,.0f}/{total:,.0f} {unit} {pct:5.1f}% "
            f"{done / elapsed:>10,.0f} {unit}/s {elapsed:6.1f} s"
        )
        if self.tty:
            self._write("\r" + text.ljust(96))
            self._dirty = True
        else:
            self._write(text + "\n")

    def note(self, text: str) -> None:
        self.end_line()
        self._write(f"  {text}\n")

    def end_line(self) -> None:
        if self._dirty:
            self._write("\n")
            self._dirty = False

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()
