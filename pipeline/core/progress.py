"""The one progress display of long commands (bench, evaluate, simulate), on ``tqdm``.

A command names its *stages*; within a stage it reports ``done`` of ``total`` and tqdm draws
the bar, rate and time left (redrawn on a terminal, a line every few seconds otherwise), and
``note`` prints a line without breaking the bar. Output goes to stderr so stdout stays data.

>>> import io
>>> out = io.StringIO()
>>> progress = Progress(out, label="demo")
>>> progress.stage("fill", "1,000 observations")
>>> progress.update(1000, 1000, force=True)
>>> progress.end_line()
>>> out.getvalue().splitlines()[0]
'[demo] fill: 1,000 observations'
>>> "1.00k/1.00k" in out.getvalue()
True
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import Never, TextIO, TypeVar

from tqdm import tqdm

_T = TypeVar("_T")


class Progress:
    """``stage`` names what runs; ``update`` moves its bar (absolute counts)."""

    def __init__(self, stream: TextIO | None = None, *, label: str = "bench") -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.label = label
        tty = self.stream.isatty()
        #: Seconds between redraws: a live bar on a terminal, sparse lines in a log.
        self.interval = 0.25 if tty else 5.0
        self._stage = ""
        self._bar: tqdm[Never] | None = None
        self._unit = ""

    def stage(self, name: str, detail: str = "") -> None:
        self.end_line()
        self._stage = name
        self._write(f"[{self.label}] {name}{': ' + detail if detail else ''}")

    def update(
        self, done: float, total: float | None, unit: str = "obs", *, force: bool = False
    ) -> None:
        """Move the bar to ``done`` (of ``total``; None: a plain counter)."""
        bar = self._bar
        if bar is None or unit != self._unit:
            self.end_line()
            self._unit = unit
            bar = tqdm(
                total=total,
                desc=f"  {self._stage}",
                unit=f" {unit}",
                unit_scale=True,
                file=self.stream,
                mininterval=self.interval,
                maxinterval=max(self.interval, 10.0),
                dynamic_ncols=True,
                leave=True,
            )
            self._bar = bar
        if bar.total != total:
            bar.total = total
        bar.update(done - bar.n)
        if force:
            bar.refresh()

    def iterate(self, items: Iterable[_T], total: int, unit: str) -> Iterator[_T]:
        """Yield ``items``, moving the stage's bar one step each."""
        for index, item in enumerate(items):
            self.update(index, total, unit, force=True)
            yield item
        self.update(total, total, unit, force=True)

    def note(self, text: str) -> None:
        self._write(f"  {text}")

    def end_line(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def _write(self, text: str) -> None:
        tqdm.write(text, file=self.stream)
