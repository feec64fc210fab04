"""``continuity kpi-bench``: the labelled KPI archetypes, windowed (NAB-style) scoring of the
KPI detector against a rolling z-score baseline (see pipeline.detection.kpi_bench)."""

from __future__ import annotations

import click
import orjson

from pipeline.detection.kpi_bench import BenchResult, format_bench, run


@click.command("kpi-bench")
@click.option("--seed", "seeds", type=int, multiple=True,
              help="Archetype seed, repeatable [default: 1 2 3].")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def kpi_bench_cmd(seeds: tuple[int, ...], as_json: bool) -> None:
    """Score the KPI detector and a 100-point rolling z-score on labelled archetypes."""
    result = run(seeds or (1, 2, 3), progress=lambda m: click.echo(m, err=True))
    if not as_json:
        click.echo(format_bench(result))
        return
    data = {
        "ours": {k: list(v) for k, v in result.ours.items()},
        "baseline": {k: list(v) for k, v in result.baseline.items()},
        "ours_normalised": BenchResult.normalised(result.ours),
        "baseline_normalised": BenchResult.normalised(result.baseline),
        "baseline_threshold": result.baseline_threshold,
        "points_per_second": result.points_per_second,
    }
    click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
