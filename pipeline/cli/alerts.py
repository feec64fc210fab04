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
    default=19466,
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
    from pipeline.ops.kafka_security import KafkaAccessError

    try:
        subscriptions = load_subscriptions(subscriptions_file)
    except ConfigInvalidError as exc:
        raise click.ClickException(f"invalid subscriptions:\n{exc}") from None
    for problem in subscriptions.missing_secrets():
        click.echo(f"warning: {problem}", err=True)
    settings = replace(Settings.from_env(os.environ), app_id=app_id, metrics_port=http_port)
    try:
        run_notifier(settings, subscriptions)
    except KafkaAccessError as exc:
        raise click.ClickException(str(exc)) from None


@alerts_group.command("test")
@click.argument("subscriber_id")
@click.option(
    "--subscriptions",
    "subscriptions_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="CW_SUBSCRIPTIONS_FILE",
    help="Subscriptions YAML.",
)
@click.option("--channel", "only", default=None, help="Only this channel (by name).")
def test_command(subscriptions_file: Path, subscriber_id: str, only: str | None) -> None:
    """Send a test notice to SUBSCRIBER_ID on its real channels and say what happened.

    Retries follow the channel's settings; every attempt is printed and recorded to the
    notices topic like any other notice. Exit 1 if a channel was not reached.
    """
    import asyncio
    import os

    from pipeline.config.settings import Settings
    from pipeline.notices.trial_notice import send_test_notice

    subscriptions = load_subscriptions(subscriptions_file)
    subscriber = subscriptions.get(subscriber_id)
    if subscriber is None:
        known = ", ".join(s.subscriber_id for s in subscriptions.subscribers)
        raise click.ClickException(f"no subscriber {subscriber_id!r} (known: {known})")
    channels = [c for c in subscriber.channels if only is None or c.delivery.name == only]
    if not channels:
        raise click.ClickException(f"{subscriber_id} has no channel called {only!r}")
    settings = Settings.from_env(os.environ)
    outcomes = asyncio.run(send_test_notice(settings, subscriber, channels, echo=click.echo))
    failed = [name for name, result in outcomes.items() if result != "delivered"]
    click.echo(
        f"{len(outcomes) - len(failed)} of {len(outcomes)} channel(s) delivered"
        + (f"; not reached: {', '.join(failed)}" if failed else "")
    )
    if failed:
        sys.exit(1)


@alerts_group.command("history")
@click.option("--subscriber", default=None, help="Only this subscriber's notices.")
@click.option("--since", default="24h", show_default=True, help="30m, 2h, 7d or RFC 3339.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per notice.")
def history_command(subscriber: str | None, since: str, as_json: bool) -> None:
    """Notices with their delivery status per channel, read from the notices topic."""
    import os
    import time

    import orjson

    from pipeline.config.settings import Settings
    from pipeline.core.timeutil import format_rfc3339
    from pipeline.notices.history import fold, parse_since
    from pipeline.notices.history_reader import read_notice_records

    try:
        start = parse_since(since, time.time())
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    settings = Settings.from_env(os.environ)
    records = read_notice_records(settings, since=start - 3600.0, progress=click.echo)
    rows = [
        row
        for row in fold(records)
        if row.created_at >= start and (subscriber is None or row.subscriber_id == subscriber)
    ]
    for row in rows:
        if as_json:
            click.echo(
                orjson.dumps(
                    {
                        "notice_id": row.notice_id,
                        "subscriber_id": row.subscriber_id,
                        "kind": row.kind,
                        "created_at": format_rfc3339(row.created_at),
                        "title": row.title,
                        "channels": {
                            name: {"result": o.result, "attempts": o.attempts, "detail": o.detail}
                            for name, o in row.channels.items()
                        },
                    }
                )
            )
            continue
        channels = "  ".join(
            f"{name}={o.result}" + (f"({o.attempts})" if o.attempts > 1 else "")
            for name, o in sorted(row.channels.items())
        )
        click.echo(
            f"{format_rfc3339(row.created_at)}  {row.subscriber_id:<16} {row.kind:<22} "
            f"{row.notice_id}  {channels}  {row.title}"
        )
    if not as_json:
        click.echo(f"{len(rows)} notice(s) since {format_rfc3339(start)}", err=True)


COMMANDS: list[click.Command] = [alerts_group, notify_command]
