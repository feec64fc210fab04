"""``continuity alerts …``: check a subscriptions file, send a test notice, show history."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pipeline.notices.subscriptions import load_subscriptions, validate_subscriptions


@click.group("alerts")
def alerts_group() -> None:
    """Notices for alert subscribers: validate subscriptions, test a channel, show history."""


@alerts_group.command("validate")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def validate_command(file: Path) -> None:
    """Check FILE; every problem is printed as FILE:LINE:COLUMN: FIELD: MESSAGE.

    Secrets named in the file ({env: NAME} or {file: PATH}) are checked for presence, never
    printed.
    """
    errors = validate_subscriptions(file)
    if errors:
        for error in errors:
            click.echo(str(error), err=True)
        click.echo(f"{len(errors)} problem(s) in {file}", err=True)
        sys.exit(1)
    subscriptions = load_subscriptions(file)
    for subscriber in subscriptions.subscribers:
        channels = ", ".join(f"{c.delivery.name} ({c.type})" for c in subscriber.channels)
        click.echo(f"{subscriber.subscriber_id}: {channels}")
    missing = subscriptions.missing_secrets()
    for problem in missing:
        click.echo(f"warning: {problem}", err=True)
    click.echo(
        f"{file}: {len(subscriptions.subscribers)} subscriber(s) valid"
        + (f"; {len(missing)} secret(s) not available here" if missing else "")
    )
