"""Analysis commands: ``detect`` (backtest the KPI detector on a CSV), ``scenarios`` and
``evaluate`` (labelled scenarios through the real detectors). The lead adds :data:`COMMANDS`
to the ``continuity`` group.

>>> parse_timestamp("2024-03-01T12:00:00Z"), parse_timestamp("1709294400000")
(1709294400.0, 1709294400.0)
"""

from __future__ import annotations

from pathlib import Path
from typing import IO

import click
import orjson

from pipeline.cli.kpi_rows import Row, read_rows
from pipeline.cli.kpi_rows import parse_timestamp as parse_timestamp  # re-exported
from pipeline.core.progress import Progress
from pipeline.core.timeutil import format_rfc3339, plural
from pipeline.detection.kpi import KpiAnomalyDetector
from pipeline.scenarios.evaluation import (
    DEFAULT_SEEDS,
    ENGINES,
    SUITES,
    Evaluation,
    evaluate,
    format_report,
)
from pipeline.scenarios.extended import generate_extended
from pipeline.scenarios.generator import ScenarioConfig, generate


@click.command("detect")
@click.option(
    "--input",
    "input_file",
    type=click.File("r", encoding="utf-8"),
    default="-",
    show_default="stdin",
    help="CSV of timestamp,value rows (a header line such as 'timestamp,value' is optional).",
)
@click.option("--chunk", type=click.IntRange(1), default=4096, show_default=True,
              help="Rows scored per batch (output is flushed after each).")  # fmt: skip
@click.option("--timestamps", is_flag=True,
              help="Echo each row's timestamp: 'timestamp,score' lines.")  # fmt: skip
def detect(input_file: IO[str], chunk: int, timestamps: bool) -> None:
    """Score every row of a KPI series, causally, one line per data row.

    The score is 1 - the tail probability of the point under the series' own recent
    behaviour; >= 0.999999 is an alarm, raised once per episode. A bad row (empty, NaN or
    non-numeric value, unparseable timestamp, timestamp going back in time) is reported on
    stderr with its line number, printed as 'nan' and not scored; the run goes on and exits
    with status 1 at the end.
    """
    det = KpiAnomalyDetector()
    pending: list[Row] = []
    bad = 0

    def flush() -> None:
        good = [r for r in pending if r.problem is None]
        scores = iter(
            det.score_many(
                [r.timestamp or 0.0 for r in good], [r.value or 0.0 for r in good]
            ).tolist()
        )
        lines = []
        for r in pending:
            text = "nan" if r.problem is not None else f"{next(scores):.6f}"
            lines.append(f"{r.raw_timestamp},{text}" if timestamps else text)
        if lines:
            click.echo("\n".join(lines))
        pending.clear()

    for row in read_rows(input_file):
        if row.problem is not None:
            bad += 1
            click.echo(f"line {row.lineno}: {row.problem} (not scored)", err=True)
        pending.append(row)
        if len(pending) >= chunk:
            flush()
    flush()
    if bad:
        click.echo(f"{bad} bad row(s) not scored; fix them and run again", err=True)
        raise SystemExit(1)


@click.command("scenarios")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Observations as JSON lines, in arrival order.")  # fmt: skip
@click.option("--truth", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Ground truth JSON [default: OUT with .truth.json].")  # fmt: skip
@click.option("--hours", type=click.FloatRange(min=1.0), default=48.0, show_default=True)
@click.option("--suite", type=click.Choice(SUITES), default="base", show_default=True,
              help="extended: add the failure classes of the extended suite.")  # fmt: skip
@click.option("--arrival-times", is_flag=True,
              help="Add each arrival_time (input for continuity replay).")  # fmt: skip
def scenarios(
    seed: int, out: Path, truth: Path | None, hours: float, suite: str, arrival_times: bool
) -> None:
    """Generate a labelled synthetic scenario (observations + truth)."""
    truth_path = truth or out.with_suffix(".truth.json")
    for path, option in ((out, "--out"), (truth_path, "--truth")):
        if not path.parent.is_dir():
            raise click.BadParameter(
                f"directory {path.parent} does not exist; create it or choose another path",
                param_hint=option,
            )
    cfg = ScenarioConfig(seed=seed, duration_s=hours * 3600.0)
    sc = generate_extended(cfg) if suite == "extended" else generate(cfg)
    try:
        with out.open("wb") as fh:
            for arrival, obs in zip(sc.arrivals, sc.observations, strict=True):
                if arrival_times:
                    data = orjson.loads(obs.to_json())
                    data["arrival_time"] = format_rfc3339(arrival)
                    fh.write(orjson.dumps(data) + b"\n")
                else:
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
@click.option(
    "--suite",
    type=click.Choice(SUITES),
    default="base",
    show_default=True,
    help="base: the original scenarios; extended: plus the failure classes of issue 14 "
    "(late reports, diurnal counts, frozen feeds, 30 s heartbeats, partial regional "
    "outages, blips, feed stalls; needs --engine worker).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def evaluate_cmd(
    seeds: tuple[int, ...], hours: float, regions: str, engine: str, suite: str, as_json: bool
) -> None:
    """Replay labelled scenarios through the detectors; print precision, recall, TTD and
    per-class figures."""
    names = tuple(r.strip() for r in regions.split(",") if r.strip())
    if not names:
        raise click.BadParameter("at least one region", param_hint="--regions")
    if suite == "extended" and engine != "worker":
        raise click.BadParameter("the extended suite needs --engine worker", param_hint="--suite")
    config = ScenarioConfig(duration_s=hours * 3600.0, regions=names)
    chosen = seeds or DEFAULT_SEEDS
    progress = Progress(label="evaluate")
    progress.stage(
        "replay", f"{plural(len(chosen), 'scenario')} of {hours:g} h through the {engine}"
    )
    # One seed at a time, pooled exactly as evaluate() pools them, so the bar can move.
    ev = Evaluation()
    for seed in progress.iterate(chosen, len(chosen), "scenarios"):
        part = evaluate((seed,), config, engine=engine, suite=suite)
        ev.probe_interval_s = part.probe_interval_s
        ev.merge(part)
    progress.end_line()
    if as_json:
        click.echo(orjson.dumps(ev.to_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(format_report(ev))


COMMANDS: list[click.Command] = [detect, scenarios, evaluate_cmd]
