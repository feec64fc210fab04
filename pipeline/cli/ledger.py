"""``continuity ledger``: the verifiable incident record (transparency log) and its witness."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from pipeline.transparency.log import TransparencyLog
    from pipeline.transparency.redaction import RedactionPolicy
    from pipeline.transparency.storage import LedgerStorage

DATA_DIR = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory of the log (log.db) and of the redacted fields' openings (openings.db); "
    "default .state/ledger. Same as --store DIR.",
)
STORE = click.option(
    "--store",
    "store_spec",
    envvar="CW_LEDGER_STORE",
    default=None,
    help="Where the log lives: a directory, sqlite:///DIR or "
    "postgresql://USER@HOST:PORT/DB[?schema=NAME] (password from the file named by "
    "CW_LEDGER_STORE_PASSWORD_FILE); env CW_LEDGER_STORE.",
)
POLICY = click.option(
    "--policy",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="Redaction policy YAML (default: the shipped policy; env CW_LEDGER_POLICY).",
)


def _policy(path: str | None) -> RedactionPolicy:
    from pipeline.transparency.redaction import DEFAULT_POLICY, PolicyError, RedactionPolicy

    try:
        return RedactionPolicy.load(path or os.environ.get("CW_LEDGER_POLICY") or DEFAULT_POLICY)
    except PolicyError as exc:
        raise click.ClickException(str(exc)) from None


def _private_key(path: str | None, env_name: str) -> Ed25519PrivateKey:
    from pipeline.transparency.keys import KeyLoadError, load_private_key

    try:
        return load_private_key(path, os.environ, env_name)
    except KeyLoadError as exc:
        raise click.ClickException(str(exc)) from None


@click.group("ledger")
def ledger_group() -> None:
    """Append-only transparency log of incidents, findings and indicators (RFC 9162 model)."""


def _storage(store_spec: str | None, data_dir: Path | None) -> LedgerStorage:
    from pipeline.transparency.storage import StorageError, open_storage

    try:
        return open_storage(store_spec, data_dir, os.environ)
    except StorageError as exc:
        raise click.ClickException(str(exc)) from None


@ledger_group.command()
@click.argument("key_file", type=click.Path(dir_okay=False, path_type=Path))
def keygen(key_file: Path) -> None:
    """Create a new Ed25519 signing key in KEY_FILE (mode 0600) and print its public key."""
    from pipeline.transparency.keys import (
        generate_private_key,
        key_id,
        public_key_pem,
        write_private_key,
    )

    key = generate_private_key()
    try:
        write_private_key(key_file, key)
    except FileExistsError:
        raise click.ClickException(f"{key_file} exists; refusing to overwrite a key") from None
    click.echo(public_key_pem(key.public_key()).decode(), nl=False)
    click.echo(f"key id {key_id(key.public_key())}", err=True)


@ledger_group.command("public-key")
@click.option("--key-file", type=click.Path(dir_okay=False), default=None)
@click.option("--key-env", default="CW_LEDGER_KEY", show_default=True)
def public_key(key_file: str | None, key_env: str) -> None:
    """Print the public key (PEM) of a signing key, to hand to verifiers and witnesses."""
    from pipeline.transparency.keys import public_key_pem

    click.echo(public_key_pem(_private_key(key_file, key_env).public_key()).decode(), nl=False)


@ledger_group.command()
@DATA_DIR
@STORE
@POLICY
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Log signing key (PEM); default: env CW_LEDGER_KEY.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8470, show_default=True)
@click.option(
    "--kafka/--no-kafka",
    default=True,
    show_default=True,
    help="Feed the log from Kafka (CW_KAFKA_BOOTSTRAP, CW_TOPIC_PREFIX).",
)
@click.option(
    "--head-interval",
    type=float,
    default=1.0,
    show_default=True,
    help="Seconds between signed heads while entries arrive.",
)
@click.option(
    "--head-max-age",
    type=float,
    default=60.0,
    show_default=True,
    help="Sign a fresh head at least this often even without new entries.",
)
def serve(
    data_dir: Path | None,
    store_spec: str | None,
    policy: str | None,
    key_file: str | None,
    host: str,
    port: int,
    kafka: bool,
    head_interval: float,
    head_max_age: float,
) -> None:
    """Write the log from Kafka and serve its HTTP API (heads, entries, proofs, metrics)."""
    from pipeline.config.settings import Settings
    from pipeline.ops.kafka_security import kafka_python_options
    from pipeline.transparency.server import ServeOptions, WriterFailed, serve
    from pipeline.transparency.writer import HeadPolicy

    settings = Settings.from_env(os.environ)
    options = ServeOptions(
        storage=_storage(store_spec, data_dir),
        policy=_policy(policy),
        host=host,
        port=port,
        kafka_bootstrap=settings.kafka_bootstrap if kafka else None,
        topics=settings.topics,
        disclosure_token=os.environ.get("CW_LEDGER_DISCLOSURE_TOKEN", ""),
        heads=HeadPolicy(head_interval, head_max_age),
        kafka_options=kafka_python_options(settings) if kafka else {},
    )
    key = _private_key(key_file, "CW_LEDGER_KEY")
    try:
        asyncio.run(serve(options, key))
    except (ValueError, ConnectionError, WriterFailed) as exc:
        raise click.ClickException(str(exc)) from None


@ledger_group.command()
@click.option("--log-url", required=True, help="Base URL of the log, e.g. http://127.0.0.1:8470")
@click.option(
    "--log-key",
    type=click.Path(dir_okay=False, exists=True),
    required=True,
    help="The log's public key (PEM or base64), obtained out of band.",
)
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="This witness's signing key; default: env CW_WITNESS_KEY.",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".state/witness"),
    show_default=True,
)
@click.option("--interval", type=float, default=5.0, show_default=True, help="Poll period (s).")
@click.option("--metrics-port", type=int, default=None, help="Serve Prometheus metrics here.")
@click.option("--once", is_flag=True, help="Poll once and exit (status 2 if the head is refused).")
def witness(
    log_url: str,
    log_key: str,
    key_file: str | None,
    state_dir: Path,
    interval: float,
    metrics_port: int | None,
    once: bool,
) -> None:
    """Watch a log: co-sign heads consistent with the last one seen, refuse and report others."""
    from prometheus_client import CollectorRegistry, start_http_server

    from pipeline.transparency.keys import KeyLoadError, load_public_key
    from pipeline.transparency.metrics import WitnessMetrics
    from pipeline.transparency.witness import Witness

    try:
        pinned = load_public_key(log_key)
    except KeyLoadError as exc:
        raise click.ClickException(str(exc)) from None
    state_dir.mkdir(parents=True, exist_ok=True)
    registry = CollectorRegistry()
    metrics = WitnessMetrics.register(registry)
    if metrics_port is not None:
        start_http_server(metrics_port, addr="127.0.0.1", registry=registry)
    try:
        runner = Witness(
            log_url,
            pinned,
            _private_key(key_file, "CW_WITNESS_KEY"),
            state_dir / "last_head.json",
            state_dir / "refused.jsonl",
            metrics,
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"witnessing {log_url}; refusals go to {state_dir / 'refused.jsonl'}", err=True)
    while True:
        verdict = runner.poll()
        click.echo(f"{verdict.result}: {verdict.message}", err=True)
        if once:
            sys.exit(0 if verdict.accepted else 2)
        time.sleep(interval)


@ledger_group.command()
@DATA_DIR
@STORE
@click.option("--from", "start", type=int, default=0, show_default=True, help="First entry.")
@click.option("--to", "end", type=int, default=None, help="End (exclusive); default: head size.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option(
    "--with-openings",
    is_flag=True,
    help="Include salts and values of redacted fields (a disclosure).",
)
def export(
    data_dir: Path | None,
    store_spec: str | None,
    start: int,
    end: int | None,
    out: Path,
    with_openings: bool,
) -> None:
    """Write a self-contained bundle: entries, proofs, heads, co-signatures, public key."""
    from pipeline.transparency.redaction import RedactionPolicy

    storage = _storage(store_spec, data_dir)
    try:
        found = storage.exists()
        if not found:
            raise click.ClickException(f"no log in {storage.describe()} (--data-dir / --store)")
        ledger = storage.open_log(RedactionPolicy())
    except (ConnectionError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    try:
        bundle = _bundle(ledger, start, end, with_openings)
    finally:
        ledger.close()
    out.write_text(json.dumps(bundle, indent=1))
    click.echo(f"wrote {out} ({len(bundle['entries'])} entries)", err=True)


def _bundle(
    ledger: TransparencyLog, start: int, end: int | None, with_openings: bool
) -> dict[str, Any]:
    from pipeline.transparency.bundle import export_bundle
    from pipeline.transparency.server import PUBLIC_KEY_META

    latest = ledger.store.latest_head()
    public = ledger.store.get_meta(PUBLIC_KEY_META)
    if latest is None or public is None:
        raise click.ClickException("the log has no signed tree head yet")
    end = latest.tree_size if end is None else end
    # Prefer a head the witnesses co-signed, so the bundle carries their agreement.
    head = ledger.store.latest_cosigned_head(end) or latest
    if not 0 <= start <= end <= head.tree_size:
        raise click.ClickException(
            f"--from/--to must satisfy 0 <= from <= to <= {head.tree_size} (latest signed head)"
        )
    click.echo(f"exporting entries {start}..{end} against head {head.tree_size}", err=True)
    return export_bundle(ledger, head, public, start, end, with_openings=with_openings)


@ledger_group.command()
@click.argument("bundle", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--log-key",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="Pin the log's public key (recommended); else the bundle's own.",
)
def verify(bundle: Path, log_key: str | None) -> None:
    """Check a bundle offline; exit 1 and name the first bad entry if anything is wrong."""
    from pipeline.transparency.bundle import verify_bundle
    from pipeline.transparency.keys import load_public_key, public_key_bytes

    pinned = public_key_bytes(load_public_key(log_key)) if log_key else None
    try:
        data = json.loads(bundle.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise click.ClickException(f"{bundle} is not a JSON bundle: {exc}") from None
    started = time.perf_counter()
    result = verify_bundle(data, pinned)
    took = time.perf_counter() - started
    if pinned is None:
        click.echo("note: no --log-key given; trusting the key inside the bundle", err=True)
    if result.ok:
        witnesses = ", ".join(w[:16] for w in result.witnesses) or "none"
        click.echo(
            f"OK: {result.entries_checked} entries, {result.openings_checked} disclosed fields, "
            f"co-signed by {len(result.witnesses)} witness(es) [{witnesses}] ({took:.2f} s)"
        )
        return
    if result.first_bad_entry is not None:
        click.echo(f"FAILED: first bad entry is {result.first_bad_entry}")
    else:
        click.echo("FAILED")
    for problem in result.problems:
        click.echo(f"  {problem}")
    sys.exit(1)


@ledger_group.command()
@click.option("--entries", type=int, default=1_000_000, show_default=True)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".state/ledger-bench"),
    show_default=True,
)
@click.option(
    "--store",
    "store_spec",
    default=None,
    help="Measure on this store instead of SQLite files in --workdir: an EMPTY "
    "postgresql://USER@HOST:PORT/DB?schema=NAME (password: CW_LEDGER_STORE_PASSWORD_FILE).",
)
@click.option("--samples", type=int, default=200, show_default=True, help="Proofs timed.")
@click.option("--bundle-entries", type=int, default=10_000, show_default=True)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the JSON result here.",
)
def bench(
    entries: int,
    workdir: Path,
    store_spec: str | None,
    samples: int,
    bundle_entries: int,
    out: Path | None,
) -> None:
    """Measure append rate, proof time, bundle verification and bytes per entry."""
    from pipeline.transparency.benchmark import run

    storage = _storage(store_spec, None) if store_spec else None
    try:
        result = run(
            entries, workdir, samples=samples, bundle_entries=bundle_entries, storage=storage
        )
    except (ValueError, ConnectionError) as exc:
        raise click.ClickException(str(exc)) from None
    text = json.dumps(result, indent=2)
    if out is not None:
        out.write_text(text + "\n")
    click.echo(text)
