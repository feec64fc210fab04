"""``continuity replay``: backtest recorded telemetry with the worker's exact wiring.

Input: observations as JSON lines (schema 1, as on ``cw.observations``) in arrival order; a
line may carry ``"arrival_time"`` (RFC 3339 or epoch seconds), the clock when it arrived,
which drives the silence checks as the wall clock drives a worker's (without it, the newest
event time seen does). Options give the maintenance windows (the worker's YAML) and service
declarations. Output: one JSON line per status change (``"type": "status"``) and per incident
transition (``"type": "incident"``: detected, updated, acknowledged, restored, reopened,
maintenance_outage_started/ended), in the order the worker would emit them. Documented in
docs/replay.md.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import IO, Any

import click
import orjson

from pipeline.cli.kpi_rows import parse_timestamp
from pipeline.config.maintenance import load_calendar
from pipeline.config.settings import Settings
from pipeline.core.validation import ObservationRejected, parse_observation_dict
from pipeline.monitoring.monitor import MonitorResult
from pipeline.scenarios.worker_replay import WorkerReplay
from pipeline.worker.wiring import monitor_params

#: Declaration fields a service may state, copied onto its observations as a connector would.
DECLARED = ("expected_interval_s", "probe_interval_s")


def load_declarations(path: Path) -> dict[str, dict[str, float]]:
    """``{service_id: {field: value}}`` from a JSON list or JSON lines of objects with a
    ``service_id`` and any of :data:`DECLARED`."""
    text = path.read_text(encoding="utf-8").strip()
    try:
        items = orjson.loads(text) if text.startswith("[") else [
            orjson.loads(line) for line in text.splitlines() if line.strip()
        ]  # fmt: skip
    except orjson.JSONDecodeError as exc:
        raise click.BadParameter(f"{path}: not JSON ({exc})", param_hint="--services") from None
    out: dict[str, dict[str, float]] = {}
    for n, item in enumerate(items, start=1):
        sid = item.get("service_id") if isinstance(item, dict) else None
        if not isinstance(sid, str) or not sid:
            raise click.BadParameter(
                f"{path}: declaration {n} needs a 'service_id'", param_hint="--services"
            )
        fields = {}
        for name in DECLARED:
            value = item.get(name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise click.BadParameter(
                    f"{path}: {sid}: {name} must be a positive number of seconds",
                    param_hint="--services",
                )
            fields[name] = float(value)
        out[sid] = fields
    return out


def _arrival(data: dict[str, Any]) -> float | None:
    raw = data.pop("arrival_time", None)
    if raw is None:
        return None
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw)
    if isinstance(raw, str):
        return parse_timestamp(raw)
    raise ValueError("arrival_time must be RFC 3339 or epoch seconds")


@click.command("replay")
@click.option("--input", "input_file", type=click.File("rb"), default="-", show_default="stdin",
              help="Observations as JSON lines, in arrival order.")  # fmt: skip
@click.option("--out", "out_file", type=click.File("wb"), default="-", show_default="stdout",
              help="Status changes and incident transitions as JSON lines.")  # fmt: skip
@click.option("--maintenance", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Maintenance windows (the worker's CW_MAINTENANCE_FILE YAML).")  # fmt: skip
@click.option("--services", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None,
              help="Service declarations: JSON (lines) of {service_id, expected_interval_s, "
                   "probe_interval_s}.")  # fmt: skip
@click.option("--default-interval", type=click.FloatRange(min=1.0), default=None,
              help="Silence interval of services that declare none [default: the worker's, "
                   "CW_DEFAULT_INTERVAL_S or 60].")  # fmt: skip
@click.option("--check-every", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
              help="Seconds of clock between silence checks.")  # fmt: skip
def replay_cmd(
    input_file: IO[bytes],
    out_file: IO[bytes],
    maintenance: str | None,
    services: Path | None,
    default_interval: float | None,
    check_every: float,
) -> None:
    """Replay recorded observations through the worker's wiring; print what it would emit.

    A line that is not a valid observation is reported on stderr with its number and
    skipped (as the worker sends it to the dead-letter topic); the exit status is then 1.
    """
    import os

    settings = Settings.from_env(os.environ)
    if default_interval:
        settings = replace(settings, default_interval=default_interval)
    params = monitor_params(settings)  # the worker's own wiring
    declarations = load_declarations(services) if services else {}
    calendar = load_calendar(maintenance or settings.maintenance_file)

    def emit(result: MonitorResult) -> None:
        for change in result.status_changes:
            out_file.write(orjson.dumps({"type": "status", **change.to_dict()}) + b"\n")
        for event in result.incident_events:
            out_file.write(orjson.dumps({"type": "incident", **event.to_dict()}) + b"\n")

    runner = WorkerReplay(
        calendar,
        heartbeat_interval_s=params.silence.default_interval,
        check_every_s=check_every,
        params=params,
        on_result=emit,
    )
    bad = lines = 0
    for lineno, raw in enumerate(input_file, start=1):
        if not raw.strip():
            continue
        lines += 1
        try:
            data = orjson.loads(raw)
            if not isinstance(data, dict):
                raise ValueError("expected a JSON object")
            arrival = _arrival(data)
            declared = declarations.get(str(data.get("service_id")))
            attrs = data.get("attrs") or {}
            if declared and isinstance(attrs, dict):
                data["attrs"] = {**declared, **attrs}
            obs = parse_observation_dict(data, now=None)
        except ObservationRejected as exc:
            bad += 1
            click.echo(f"line {lineno}: {exc}", err=True)
            continue
        except (ValueError, orjson.JSONDecodeError) as exc:
            bad += 1
            click.echo(f"line {lineno}: {exc}", err=True)
            continue
        runner.process(obs, arrival)
        if lines % 100_000 == 0:
            click.echo(f"{lines} observations replayed", err=True)
    runner.advance(runner.watermark)
    out_file.flush()
    click.echo(f"{lines - bad} observations replayed, {bad} rejected", err=True)
    if bad:
        raise SystemExit(1)
