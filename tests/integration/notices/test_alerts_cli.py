"""`continuity alerts test` over a real channel and `alerts history` from the real topic."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli.main import main
from pipeline.config.settings import Settings
from tests.support.notices import WebhookReceiver
from tests.support.stack import worker_env

pytestmark = pytest.mark.integration

KEY = "cli-hook-key"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    peer = WebhookReceiver(KEY.encode(), flaky_failures=1)
    yield peer
    peer.close()


def test_test_notice_then_history(
    settings: Settings, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    subs = tmp_path / "subs.yaml"
    subs.write_text(
        f"""\
version: 1
subscribers:
  - id: cert
    channels:
      - {{type: webhook, name: hook, url: "{receiver.url("/flaky")}", secret: {{env: CLI_KEY}},
          backoff_s: 0.05}}
      - {{type: webhook, name: gone, url: "{receiver.dead_url()}", secret: {{env: CLI_KEY}},
          max_attempts: 2, backoff_s: 0.05}}
"""
    )
    env = {**worker_env(settings), "CLI_KEY": KEY, "CW_WORKER_DATA_DIR": str(tmp_path)}
    runner = CliRunner()
    sent = runner.invoke(main, ["alerts", "test", "cert", "--subscriptions", str(subs)], env=env)
    assert sent.exit_code == 1, sent.output
    assert "hook (webhook) attempt 1: retry - HTTP 500" in sent.output
    assert "hook (webhook) attempt 2: delivered - HTTP 204" in sent.output
    assert "gone (webhook) attempt 2: dead_letter" in sent.output
    assert "1 of 2 channel(s) delivered; not reached: gone" in sent.output
    assert KEY not in sent.output
    (got,) = receiver.at("/flaky")
    assert got.body["kind"] == "test"

    only_hook = runner.invoke(
        main,
        ["alerts", "test", "cert", "--subscriptions", str(subs), "--channel", "hook"],
        env=env,
    )
    assert only_hook.exit_code == 0, only_hook.output

    history = runner.invoke(
        main, ["alerts", "history", "--subscriber", "cert", "--since", "10m", "--json"], env=env
    )
    assert history.exit_code == 0, history.output
    rows = [json.loads(line) for line in history.output.splitlines() if line.startswith("{")]
    assert [r["kind"] for r in rows] == ["test", "test"]
    assert rows[0]["notice_id"] == got.body["notice_id"]
    assert rows[0]["channels"]["hook"] == {"result": "delivered", "attempts": 2,
                                           "detail": "HTTP 204"}  # fmt: skip
    assert rows[0]["channels"]["gone"]["result"] == "dead_letter"
    assert list(rows[1]["channels"]) == ["hook"]
    nobody = runner.invoke(main, ["alerts", "history", "--subscriber", "x"], env=env)
    assert "0 notice(s) since" in nobody.output
    bad = runner.invoke(main, ["alerts", "history", "--since", "yesterday"], env=env)
    assert bad.exit_code == 2
    assert "give a duration like 30m" in bad.output
