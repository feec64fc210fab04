"""``continuity settings``: the values in effect, and the generated configuration reference."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import click

from pipeline.config.reference import DOC_PATH, render
from pipeline.config.settings import Settings, SettingsError
from pipeline.ops.localstack import REPO


@click.group("settings")
def settings_group() -> None:
    """The CW_* settings every component reads (docs/configuration.md)."""


@settings_group.command("show")
def show() -> None:
    """Print the settings in effect (from CW_* variables and defaults)."""
    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        if not field.repr:  # secrets (tokens, keys) are never printed, only whether they are set
            value = "(set)" if value else "(unset)"
        click.echo(f"{field.name:<24} {getattr(value, 'prefix', value)}")


@settings_group.command("docs")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=REPO / DOC_PATH,
    show_default=True,
)
@click.option("--check", is_flag=True, help="Exit 1 if the file differs instead of writing it.")
def docs(out: Path, check: bool) -> None:
    """Generate the CW_* reference (docs/configuration.md)."""
    text = render()
    if check:
        current = out.read_text(encoding="utf-8") if out.exists() else ""
        if current != text:
            raise click.ClickException(f"{out} is stale; run: continuity settings docs")
        click.echo(f"{out} is up to date")
        return
    out.write_text(text, encoding="utf-8")
    click.echo(f"wrote {out}")
