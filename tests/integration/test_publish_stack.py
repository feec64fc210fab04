"""A scenario through a real worker into InfluxDB, then the status page from the real
``continuity serve-status`` in headless Chromium, and ``continuity report`` to HTML and PDF."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from influxdb_client.client.influxdb_client import InfluxDBClient

from pipeline.config.settings import Settings
from pipeline.core.schema import Kind, Status
from pipeline.publish.reader import FluxReader
from pipeline.scenarios.generator import ScenarioConfig, generate
from tests.support.browser import ARTIFACTS, dump_dom, screenshot
from tests.support.observations import make_obs
from tests.support.publish_data import digest
from tests.support.stack import WorkerProcess, eventually, free_port, fresh_namespace, produce

pytestmark = pytest.mark.integration

#: Services the test sends down after the scenario's last evidence, so the page has open
#: incidents in one region from two operators of two sectors (a concurrent disruption).
FINAL_DOWN = (
    ("energy.ua-30.ene-op1", "ene-op1", "energy", 4_200),
    ("telecom.ua-30.tel-op2", "tel-op2", "telecom", 90_000),
)


#: Outages the operators report themselves (down, then up: seconds before now), so the
#: history has restored incidents whatever the detectors conclude from the probes.
PAST_OUTAGES = (
    ("health.ua-30.hea-op1", "hea-op1", "health", "UA-30", 9000, 7200, 300),
    ("transport.ua-46.tra-op2", "tra-op2", "transport", "UA-46", 6000, 5100, 2_500),
    ("telecom.ua-46.tel-op1", "tel-op1", "telecom", "UA-46", 4000, 2500, 30_000),
)


@dataclass
class Run:
    settings: Settings
    env: dict[str, str]
    publish_config: Path
    deployment: Path
    started: float


@pytest.fixture(scope="module")
def scenario_run(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """Two hours of generated telemetry (two regions, 16 services) through one worker."""
    with fresh_namespace(stack, silence_check_interval=5.0) as settings:
        yield from _scenario_run(settings, tmp_path_factory.mktemp("publish"))


def _scenario_run(settings: Settings, folder: Path) -> Iterator[Run]:
    worker = WorkerProcess(settings, Path(settings.data_dir) / "worker.log", f"{settings.app_id}-0")
    try:
        now = time.time()
        scenario = generate(
            ScenarioConfig(
                seed=7,
                duration_s=2 * 3600.0,
                start=now - 2 * 3600.0 - 30,
                regions=("UA-30", "UA-46"),
                outage_gap_mean_s=1800.0,
                maintenance_share=0.0,
            )
        )
        records = [(o.service_id.encode(), o.to_json()) for o in scenario.observations]
        for sid, op, sector, region, down_at, up_at, affected in PAST_OUTAGES:
            for at, status in ((now - down_at, Status.DOWN), (now - up_at, Status.UP)):
                obs = make_obs(
                    sid, at=at, kind=Kind.STATUS_REPORT, status=status, operator_id=op,
                    sector=sector, region=region, customers_served=affected * 3,
                    customers_affected=affected if status is Status.DOWN else 0,
                )  # fmt: skip
                records.append((sid.encode(), obs.to_json()))
        records.sort(key=lambda r: orjson.loads(r[1])["observed_at"])
        for sid, op, sector, affected in FINAL_DOWN:
            obs = make_obs(
                sid, at=now - 5, kind=Kind.STATUS_REPORT, status=Status.DOWN,
                operator_id=op, sector=sector, region="UA-30", customers_affected=affected,
                customers_served=affected * 2,
            )  # fmt: skip
            records.append((sid.encode(), obs.to_json()))
        # Everything is in Kafka before the worker starts: it catches up on the history well
        # within one silence check, so silence is judged on the scenario's end.
        produce(settings, records)
        with pytest.MonkeyPatch.context() as patch:
            # A day's expected interval: silence is not what this test is about, and the
            # two hours of history must not look silent while the worker catches up.
            patch.setenv("CW_DEFAULT_INTERVAL_S", "86400")
            worker.start()
        with InfluxDBClient(url=settings.influx_url, token=settings.influx_token, org="-") as c:
            reader = FluxReader(c.query_api(), settings.influx_bucket)

            def ready() -> bool:
                snap = reader.snapshot(time.time())
                open_ids = {i.service_id for i in snap.incidents if i.is_open}
                restored = [i for i in snap.incidents if not i.is_open]
                return {s for s, *_ in FINAL_DOWN} <= open_ids and len(restored) >= 2

            eventually(ready, timeout=120, every=1.0, what="scenario incidents in InfluxDB")
        deployment = folder / "deployment.yaml"
        deployment.write_text(
            f"""version: 1
operators:
  - id: ene-op1
    token_sha256: "{digest("ene-op1-token")}"
    services:
      - {{id: energy.ua-30.ene-op1, sector: energy, region: UA-30, expected_interval_s: 60}}
""",
            encoding="utf-8",
        )
        publish_config = folder / "publish.yaml"
        publish_config.write_text(
            "version: 1\npublic: {min_group_services: 2, min_group_operators: 2}\n"
            "links: {notices_feed: /notices.atom}\n",
            encoding="utf-8",
        )
        env = {**os.environ, "CW_INFLUX_BUCKET": settings.influx_bucket}
        yield Run(settings, env, publish_config, deployment, now)
    finally:
        worker.stop()


@pytest.fixture
def status_server(scenario_run: Run) -> Iterator[str]:
    port = free_port()
    log = Path(scenario_run.settings.data_dir) / "serve-status.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "pipeline.cli", "serve-status", "--port", str(port),
                "--config", str(scenario_run.deployment),
                "--publish-config", str(scenario_run.publish_config),
            ],
            env=scenario_run.env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        eventually(lambda: _healthy(base, proc), timeout=30, what=f"serve-status ({log})")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _healthy(base: str, proc: subprocess.Popen[bytes]) -> bool:
    if proc.poll() is not None:
        raise AssertionError(f"serve-status exited with {proc.returncode}")
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def test_status_page_in_headless_chromium(status_server: str, tmp_path: Path) -> None:
    dom = dump_dom(f"{status_server}/", tmp_path / "profile")
    assert "Continuity of civilian critical services" in dom
    assert "Service disruption" in dom  # the banner: two services are down
    assert "Current state by sector and region" in dom
    for cell in ("energy", "telecom", "health", "transport", "UA-30", "UA-46"):
        assert f">{cell}<" in dom, cell
    assert "Open incidents" in dom
    assert "4\u202f200" in dom  # customers affected in energy UA-30
    assert "Availability, last 90 days" in dom
    assert dom.count('role="img"') >= 8  # one strip per published cell
    assert "Incident history" in dom
    assert 'href="/notices.atom"' in dom
    # no operator or service is named on the public page
    for name in ("ene-op1", "tel-op2", "energy.ua-30", "hea-op"):
        assert name not in dom, name
    png = screenshot(f"{status_server}/", ARTIFACTS / "status-page.png", tmp_path / "profile2")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 20_000  # a rendered page, not a blank one


def _report(run: Run, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    begin = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(run.started - 4 * 3600))
    end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 60))
    return subprocess.run(
        [
            sys.executable, "-m", "pipeline.cli", "report", "--from", begin, "--to", end,
            "--publish-config", str(run.publish_config), "--out", str(out), *args,
        ],
        env=run.env, capture_output=True, text=True, timeout=180, check=True,
    )  # fmt: skip


def test_report_renders_html_and_pdf_pages(scenario_run: Run, tmp_path: Path) -> None:
    html_out = tmp_path / "report.html"
    done = _report(scenario_run, html_out, "--format", "html")
    assert "report" in done.stderr  # the progress bar
    html = html_out.read_text(encoding="utf-8")
    assert "Concurrent disruptions" in html
    assert "energy, telecom" in html  # the UA-30 disruption, two sectors
    assert "ITU-T E.800" in html
    assert "availability_incl_maintenance" in html
    assert "Time to restore" in html
    assert html.count("<svg") >= 9  # eight daily strips and the time-to-restore chart
    for name in ("ene-op1", "tel-op2", "hea-op1", "energy.ua-30"):
        assert name not in html, name

    pdf = ARTIFACTS / "report.pdf"
    _report(scenario_run, pdf, "--format", "pdf")
    assert pdf.read_bytes()[:5] == b"%PDF-"
    prefix = ARTIFACTS / "report-page"
    for old in ARTIFACTS.glob("report-page-*.png"):
        old.unlink()
    subprocess.run(["pdftoppm", "-png", "-r", "70", str(pdf), str(prefix)], check=True, timeout=120)
    pages = sorted(ARTIFACTS.glob("report-page-*.png"))
    assert len(pages) >= 2
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pages)
    assert pages[0].stat().st_size > 20_000
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Continuity of civilian critical services: report" in text
    assert "page 1 of" in text
