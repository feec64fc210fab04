"""Analysis commands: ``detect`` (backtest the KPI detector on a CSV), ``scenarios`` and
``evaluate`` (labelled scenarios through the real detectors). The lead adds :data:`COMMANDS`
to the ``continuity`` group.

>>> parse_timestamp("2024-03-01T12:00:00Z"), parse_timestamp("1709294400000")
(1709294400.0, 1709294400.0)
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import click
import orjson

from pipeline.cli.progress import Progress
from pipeline.core.timeutil import plural
from pipeline.detection.kpi import KpiAnomalyDetector
from pipeline.scenarios.evaluation import (
    DEFAULT_SEEDS,
    ENGINES,
    Evaluation,
    evaluate,
    format_report,
)
from pipeline.scenarios.generator import ScenarioConfig, generate

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
    moment = datetime.fromisoformat(candidate)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # naive times in a backtest CSV are taken as UTC
    return moment.timestamp()


def _rows(stream: IO[str]) -> Iterator[tuple[int, float, float]]:
    """(line number, timestamp, value) per data row; a first line that does not parse is a
    header; blank lines are skipped; a bad row stops with its line number."""
    first = True
    for lineno, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.rstrip("\r\n").split(",")]
        try:
            if len(parts) < 2:
                raise ValueError("expected timestamp,value")
            ts = parse_timestamp(parts[0])
            value = float(parts[1].strip('"')) if parts[1].strip('"') else math.nan
        except ValueError as exc:
            if first:
                first = False
                continue  # header line
            raise click.ClickException(f"line {lineno}: {exc}") from None
        first = False
        yield lineno, ts, value


@click.command("detect")
@click.option(
    "--input",
    "input_file",
    type=click.File("r", encoding="utf-8"),
    default="-",
    show_default="stdin",
    help="CSV of timestamp,value rows (header optional).",
)
@click.option("--chunk", type=click.IntRange(1), default=4096, show_default=True,
              help="Rows scored per batch (output is flushed after each).")  # fmt: skip
def detect(input_file: IO[str], chunk: int) -> None:
    """Score every row of a KPI series in [0, 1], causally, one score per line."""
    det = KpiAnomalyDetector()
    ts: list[float] = []
    vs: list[float] = []

    def flush() -> None:
        if ts:
            out = det.score_many(ts, vs)
            click.echo("\n".join(f"{s:.6f}" for s in out.tolist()))
            ts.clear()
            vs.clear()

    for _, t, v in _rows(input_file):
        ts.append(t)
        vs.append(v)
        if len(ts) >= chunk:
            flush()
    flush()


@click.command("scenarios")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Observations as JSON lines, in arrival order.")  # fmt: skip
@click.option("--truth", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Ground truth JSON [default: OUT with .truth.json].")  # fmt: skip
@click.option("--hours", type=click.FloatRange(min=1.0), default=48.0, show_default=True)
def scenarios(seed: int, out: Path, truth: Path | None, hours: float) -> None:
    """Generate a labelled synthetic scenario (observations + truth)."""
    truth_path = truth or out.with_suffix(".truth.json")
    for path, option in ((out, "--out"), (truth_path, "--truth")):
        if not path.parent.is_dir():
            raise click.BadParameter(
                f"directory {path.parent} does not exist; create it or choose another path",
                param_hint=option,
            )
    sc = generate(ScenarioConfig(seed=seed, duration_s=hours * 3600.0))
    try:
        with out.open("wb") as fh:
            for obs in sc.observations:
                fh.write(obs.to_json() + b"\n")
        truth_path.write_bytes(orjson.dumps(sc.truth_dict(), option=orjson.OPT_INDENT_2))
    except OSError as exc:
        raise click.ClickException(f"cannot write {exc.filename}: {exc.strerror}") from None
    click.echo(
        f"{plural(len(sc.observations), 'observation')} -> {out}; "
        f"{plural(len(sc.truth), 'incident')}, "
        f"{plural(len(sc.maintenance), 'maintenance window')} -> {truth_path}"
    )


@click.command("evaluate")
@click.option(
    "--seed",
    "seeds",
    type=int,
    multiple=True,
    help=f"Scenario seed, repeatable [default: {' '.join(map(str, DEFAULT_SEEDS))}].",
)
@click.option("--hours", type=click.FloatRange(min=6.0), default=48.0, show_default=True)
@click.option(
    "--regions",
    default=",".join(ScenarioConfig().regions),
    show_default=True,
    help="Comma-separated regions (8 services each).",
)
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default="replayer",
    show_default=True,
    help="replayer: detectors as designed; worker: the worker's exact wiring (slower).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def evaluate_cmd(
    seeds: tuple[int, ...], hours: float, regions: str, engine: str, as_json: bool
) -> None:
    """Replay labelled scenarios through the detectors; print precision, recall and TTD."""
    names = tuple(r.strip() for r in regions.split(",") if r.strip())
    if not names:
        raise click.BadParameter("at least one region", param_hint="--regions")
    config = ScenarioConfig(duration_s=hours * 3600.0, regions=names)
    chosen = seeds or DEFAULT_SEEDS
    progress = Progress(label="evaluate")
    progress.stage(
        "replay", f"{plural(len(chosen), 'scenario')} of {hours:g} h through the {engine}"
    )
    # One seed at a time, pooled exactly as evaluate() pools them, so the bar can move.
    ev = Evaluation()
    for seed in progress.iterate(chosen, len(chosen), "scenarios"):
        part = evaluate((seed,), config, engine=engine)
        ev.probe_interval_s = part.probe_interval_s
        ev.merge(part)
    progress.end_line()
    if as_json:
        click.echo(orjson.dumps(ev.to_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(format_report(ev))


COMMANDS: list[click.Command] = [detect, scenarios, evaluate_cmd]
