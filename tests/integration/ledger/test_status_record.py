"""The status page shows the verifiable record read from a real log server and a real witness:
size, last signed head, co-signatures; a witness's refusal of a split view; an unreachable log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.config.settings import Settings
from pipeline.transparency.log import TransparencyLog
from pipeline.transparency.records import LogRecord
from pipeline.transparency.redaction import RedactionPolicy
from pipeline.transparency.store import SqliteLogStore, SqliteOpeningStore
from tests.support.ledger import LedgerServer
from tests.support.stack import eventually, free_port

pytestmark = pytest.mark.integration

FEED = "http://127.0.0.1:19466/feeds/public-warning.atom"


def _log_dir(path: Path, kind: str, n: int) -> Path:
    """A log of ``n`` entries written straight into its store (what a writer would append)."""
    path.mkdir()
    log = TransparencyLog(
        SqliteLogStore(str(path / "log.db")),
        SqliteOpeningStore(str(path / "openings.db")),
        RedactionPolicy(),
    )
    log.append([LogRecord(f"{kind}{i}", "indicator", {kind: i}) for i in range(n)], {})
    return path


@pytest.fixture
def status_server(settings: Settings, tmp_path: Path) -> Iterator[Callable[[str], str]]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(log_url: str) -> str:
        config = tmp_path / "publish.yaml"
        config.write_text(
            "version: 1\n"
            f"links: {{notices_feed: '{FEED}'}}\n"
            f"transparency: {{api_url: '{log_url}', timeout_s: 1}}\n"
        )
        port = free_port()
        argv = [
            sys.executable, "-m", "pipeline.cli", "serve-status", "--port", str(port),
            "--publish-config", str(config), "--cache-ttl", "0.3", "--rate", "1000",
        ]  # fmt: skip
        env = {**os.environ, "CW_INFLUX_BUCKET": settings.influx_bucket}
        with (tmp_path / "serve-status.log").open("ab") as out:
            procs.append(subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT))
        base = f"http://127.0.0.1:{port}"
        eventually(lambda: _get(base + "/healthz") is not None, timeout=30, what="serve-status")
        return base

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=30)


def _get(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            body: bytes = response.read()
            assert response.status == 200
            return body
    except OSError:
        return None


def _record(base: str) -> dict[str, Any]:
    body = _get(base + "/api/v1/view")
    assert body is not None, "the read API must answer whether or not the log is up"
    record: dict[str, Any] = json.loads(body)["record"]
    return record


def test_status_page_shows_log_size_head_witnesses_refusals_and_an_unreachable_log(
    settings: Settings,
    ledger_server: Callable[..., LedgerServer],
    witness: Callable[[str], tuple[subprocess.Popen[bytes], int, Path]],
    status_server: Callable[[str], str],
    tmp_path: Path,
) -> None:
    server = ledger_server(data_dir=_log_dir(tmp_path / "log", "a", 12), kafka=False)
    witness(server.url)
    base = status_server(server.url)

    eventually(
        lambda: _record(base).get("cosigned_latest") == 1,
        timeout=30,
        what="the page to show the witness's co-signature",
    )
    record = _record(base)  # the public view (no token): none of this is sensitive
    assert (record["state"], record["tree_size"], record["witnesses_known"]) == ("ok", 12, 1)
    assert record["refusals"] == 0
    assert record["head_age_s"] < 10
    assert record["head_time"] == record["head_time"][:19] + "Z"
    page = (_get(base + "/") or b"").decode()
    assert 'id="record-size">12<' in page
    assert 'id="record-cosigned">1 of 1<' in page
    assert 'id="record-refusals">none<' in page
    assert '<link rel="alternate" type="application/atom+xml"' in page
    assert FEED in page
    assert f'<a href="{FEED}" rel="alternate"' in page

    # The operator shows another history of the same size: the witness refuses, hands the log
    # its signed refusal, and the page shows it (served by the very log that was refused).
    server.stop()
    forked = ledger_server(
        data_dir=_log_dir(tmp_path / "forked", "b", 12), port=server.port, kafka=False
    )
    eventually(
        lambda: _record(base).get("refusals", 0) >= 1,
        timeout=30,
        what="the page to show the witness's refusal",
    )
    record = _record(base)
    assert record["witnesses_refusing"] == 1
    assert record["cosigned_latest"] == 0
    (row,) = record["witnesses"]
    assert row["last_refusal_reason"] == "split view: two heads of size 12 with different roots"
    page = (_get(base + "/") or b"").decode()
    assert "split view: two heads of size 12" in page
    assert "from 1 witness(es)" in page

    # The log goes away: the page still answers and says so, with what was last known.
    forked.stop()
    eventually(
        lambda: _record(base)["state"] == "unreachable", timeout=30, what="an unreachable log"
    )
    assert _record(base)["last_known"]["tree_size"] == 12
    page = (_get(base + "/") or b"").decode()
    assert "The transparency log could not be reached" in page
    assert server.url not in page  # the log's (possibly internal) address is not published
