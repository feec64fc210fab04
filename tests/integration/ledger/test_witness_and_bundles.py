"""A real log server, a real witness process, the HTTP API and the export/verify CLI."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result
from kafka import KafkaProducer

from pipeline.cli.ledger import ledger_group
from pipeline.config.settings import Settings
from pipeline.dashboards.record_panels import RECORD_PANELS
from pipeline.ops import localstack
from pipeline.transparency import merkle
from pipeline.transparency.keys import (
    generate_private_key,
    write_private_key,
)
from pipeline.transparency.log import TransparencyLog
from pipeline.transparency.records import LogRecord
from pipeline.transparency.redaction import Opening, RedactionPolicy, check_opening
from pipeline.transparency.store import SqliteLogStore, SqliteOpeningStore
from tests.support.ledger import LedgerServer
from tests.support.stack import eventually, metric_sum, prometheus_query

pytestmark = pytest.mark.integration


def _transition(i: int) -> bytes:
    return orjson.dumps(
        {
            "event": "detected",
            "at": 2000.0 + i,
            "incident": {
                "incident_id": f"hospital-{i}/1",
                "service": {"service_id": f"hospital-{i}", "customers_served": 40},
                "customers_affected": 12,
                "attrs": {"endpoint": f"https://fhir-{i}.example/metadata"},
            },
        }
    )


def _produce(settings: Settings, start: int, end: int) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    for i in range(start, end):
        producer.send(settings.topics.incidents, key=f"h{i}".encode(), value=_transition(i))
    producer.flush()
    producer.close()


def _cosigned_size(server: LedgerServer) -> int:
    body = server.head()
    if not body or not body["cosignatures"]:
        return 0
    return int(body["cosignatures"][0]["tree_size"])


def _witness_metric(port: int, result: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return metric_sum(
            response.read().decode(), "continuity_witness_checks_total", result=result
        )


def _dashboard_panels_have_data(
    settings: Settings, server: LedgerServer, witness_port: int
) -> None:
    """Every panel of the record's dashboard row returns data from the real Prometheus."""
    labels = {"test_run": settings.app_id}
    names = (f"{settings.app_id}-ledger", f"{settings.app_id}-witness")
    localstack.register_scrape_target(names[0], f"127.0.0.1:{server.port}", labels)
    localstack.register_scrape_target(names[1], f"127.0.0.1:{witness_port}", labels)
    try:
        for panel in RECORD_PANELS:
            eventually(
                lambda p=panel: prometheus_query(settings, p.query),  # type: ignore[misc]
                timeout=40,
                what=f"panel {panel.title!r} to return data",
            )
        lag = prometheus_query(settings, RECORD_PANELS[3].query)
        assert any(float(r["value"][1]) == 0 for r in lag)  # our witness is up to date
    finally:
        for name in names:
            localstack.unregister_scrape_target(name)


def _cli(*args: str) -> Result:
    """Run a ``continuity ledger`` command in this process (the real command, no subprocess)."""
    return CliRunner().invoke(ledger_group, list(args), catch_exceptions=False)


def test_witness_cosigns_api_proves_bundles_verify_and_a_rewrite_is_refused(
    settings: Settings,
    ledger_server: Callable[..., LedgerServer],
    witness: Callable[[str], tuple[subprocess.Popen[bytes], int, Path]],
    tmp_path: Path,
    log_key_file: Path,
    public_key_file: Path,
) -> None:
    _produce(settings, 0, 30)
    server = ledger_server()
    eventually(lambda: (server.head() or {}).get("head", {}).get("tree_size") == 30, timeout=60)
    proc, metrics_port, state = witness(server.url)
    eventually(lambda: _cosigned_size(server) == 30, timeout=60, what="a co-signed head of 30")
    _produce(settings, 30, 45)
    eventually(lambda: _cosigned_size(server) == 45, timeout=60, what="a co-signed head of 45")
    assert _witness_metric(metrics_port, "consistent") >= 2
    _dashboard_panels_have_data(settings, server, metrics_port)

    # -- the API: proofs verify against the served head; public entries are redacted --------
    body = server.head()
    assert body is not None
    head = body["head"]
    root = base64.b64decode(head["root_hash"])
    entries = server.get("/ledger/v1/entries?start=0&end=45")["entries"]
    assert len(entries) == 45
    assert not any("fhir-" in e["leaf"] for e in entries)
    proof = server.get("/ledger/v1/proof/inclusion?index=7&tree_size=45")["inclusion"]
    leaf = merkle.leaf_hash(entries[7]["leaf"].encode())
    assert merkle.verify_inclusion(7, 45, leaf, [base64.b64decode(p) for p in proof], root)
    first_root = merkle.root_from_leaves(
        [merkle.leaf_hash(e["leaf"].encode()) for e in entries[:30]]
    )
    cproof = server.get("/ledger/v1/proof/consistency?first=30&second=45")["consistency"]
    assert merkle.verify_consistency(
        30, 45, first_root, root, [base64.b64decode(p) for p in cproof]
    )
    with pytest.raises(urllib.error.HTTPError) as denied:
        server.get("/ledger/v1/openings?index=7")
    assert denied.value.code == 403
    request = urllib.request.Request(
        f"{server.url}/ledger/v1/openings?index=7",
        headers={"Authorization": "Bearer test-disclosure-token"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        opened = json.load(response)["openings"]
    public = orjson.loads(entries[7]["leaf"])["record"]
    for item in opened:
        opening = Opening(item["path"], base64.b64decode(item["salt"]), item["value"])
        assert check_opening(public, opening) is None
    with pytest.raises(urllib.error.HTTPError) as bad:
        server.get("/ledger/v1/proof/inclusion?index=x")
    assert bad.value.code == 400
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=5) as response:
        exposition = response.read().decode()
    assert metric_sum(exposition, "continuity_ledger_tree_size_entries") == 45
    assert metric_sum(exposition, "continuity_ledger_head_cosignatures") == 1
    assert metric_sum(exposition, "continuity_ledger_witness_cosigned_size_entries") == 45

    # -- export and verify offline; a changed byte is named --------------------------------
    bundle = tmp_path / "bundle.json"
    data_dir = str(server.data_dir)
    done = _cli("export", "--data-dir", data_dir, "--from", "0", "--to", "45", "--out", str(bundle))
    assert done.exit_code == 0, done.output
    ok = _cli("verify", str(bundle), "--log-key", str(public_key_file))
    assert ok.exit_code == 0, ok.output
    assert "OK: 45 entries" in ok.stdout
    assert "co-signed by 1 witness" in ok.stdout
    text = bundle.read_text()
    tampered = json.loads(text)
    leaf12 = tampered["entries"][12]["leaf"]
    tampered["entries"][12]["leaf"] = leaf12.replace("detected", "detectee")
    bundle.write_text(json.dumps(tampered))
    bad_run = _cli("verify", str(bundle), "--log-key", str(public_key_file))
    assert bad_run.exit_code == 1
    assert "first bad entry is 12" in bad_run.stdout

    # -- the operator shows a second history of the same size (split view): refused, reported -
    server.stop()
    forked_dir = tmp_path / "forked"
    forked_dir.mkdir()
    forked = TransparencyLog(
        SqliteLogStore(str(forked_dir / "log.db")),
        SqliteOpeningStore(str(forked_dir / "openings.db")),
        RedactionPolicy(),
    )
    forked.append([LogRecord(f"k{i}", "indicator", {"i": i}) for i in range(45)], {})
    rewritten = ledger_server(data_dir=forked_dir, port=server.port, kafka=False)
    assert (rewritten.head() or {})["head"]["tree_size"] == 45
    eventually(
        lambda: _witness_metric(metrics_port, "inconsistent") >= 1,
        timeout=30,
        what="the witness to refuse the rewritten head",
    )
    report = [json.loads(line) for line in (state / "refused.jsonl").read_text().splitlines()]
    assert report[0]["result"] == "inconsistent"
    assert report[0]["message"] == "split view: two heads of size 45 with different roots"
    assert (rewritten.head() or {})["cosignatures"] == []
    assert proc.poll() is None  # it keeps running (and refusing)
    last = json.loads((state / "last_head.json").read_text())
    assert last["head"]["tree_size"] == 45

    # -- a head signed by another key is refused too -----------------------------------------
    rewritten.stop()
    other_key = tmp_path / "other-key.pem"
    write_private_key(other_key, generate_private_key())
    impostor = ledger_server(
        data_dir=tmp_path / "impostor", key_file=other_key, port=server.port, kafka=False
    )
    eventually(
        lambda: _witness_metric(metrics_port, "bad_signature") >= 1,
        timeout=30,
        what="the witness to refuse a head signed by another key",
    )
    assert (impostor.head() or {})["cosignatures"] == []
    assert os.path.getsize(state / "refused.jsonl") > 0
