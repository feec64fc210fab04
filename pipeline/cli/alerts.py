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


@click.command("notify")
@click.option(
    "--subscriptions",
    "subscriptions_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="CW_SUBSCRIPTIONS_FILE",
    help="Subscriptions YAML (see `continuity alerts validate`).",
)
@click.option("--app-id", default="continuity-notifier", show_default=True, help="Consumer group.")
@click.option(
    "--http-port",
    type=int,
    default=19465,
    show_default=True,
    envvar="CW_NOTIFIER_HTTP_PORT",
    help="Atom feeds (/feeds/<subscriber>.atom) and /metrics.",
)
def notify_command(subscriptions_file: Path, app_id: str, http_port: int) -> None:
    """Run the notifier: incidents and findings -> notices on every subscriber's channels."""
    import os
    from dataclasses import replace

    from pipeline.config.settings import Settings
    from pipeline.notices.run import run_notifier
    from pipeline.notices.yamlnodes import ConfigInvalidError

    try:
        subscriptions = load_subscriptions(subscriptions_file)
    except ConfigInvalidError as exc:
        raise click.ClickException(f"invalid subscriptions:\n{exc}") from None
    for problem in subscriptions.missing_secrets():
        click.echo(f"warning: {problem}", err=True)
    settings = replace(Settings.from_env(os.environ), app_id=app_id, metrics_port=http_port)
    run_notifier(settings, subscriptions)


COMMANDS: list[click.Command] = [alerts_group, notify_command]
