"""Evidence -> notice latency through the real stack: worker + notifier + a webhook receiver.

``continuity bench notice --incidents 30 --rate 200`` starts one worker and
one notifier (fresh topics), keeps ``--rate`` heartbeats/s flowing over ``--services``
services, opens and restores ``--incidents`` outages one by one, and measures the time from
each outage's evidence (its ``observed_at``) to the signed webhook notice arriving at a real
aiohttp receiver. Prints p50/p99/max for "opened" and "restored" notices, the part of it
after the worker concluded (``detected_to_received``: the notice path alone), and the
notifier's CPU per incident.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
import orjson
from aiohttp import web
from kafka import KafkaAdminClient, KafkaProducer

from pipeline.bench.workers import cpu_seconds, free_port
from pipeline.config.settings import Settings, TopicNames
from pipeline.core.schema import Kind, Observation, Status
from pipeline.ops.kafka_security import KafkaSecurity, kafka_python_options
from pipeline.ops.topics import ensure_topic_layout

READY = b"[^Worker]: Ready"
KEY = "bench-notice-key"


class Receiver:
    """Checks the signature and records (kind, service, receipt time) per notice item."""

    def __init__(self) -> None:
        self.got: list[tuple[str, str, float]] = []
        self.notice_ids: list[str] = []
        #: (service, receipt - the worker's detected_at) per "opened" item: the notice path
        self.after_detection: list[float] = []
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.url = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)

    async def _start(self) -> str:
        async def hook(request: web.Request) -> web.Response:
            body = await request.read()
            at = time.time()
            ts = request.headers["X-Continuity-Timestamp"]
            mac = hmac.new(KEY.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest("v1=" + mac, request.headers["X-Continuity-Signature"]):
                return web.Response(status=401)
            notice = orjson.loads(body)
            self.notice_ids.append(notice["notice_id"])
            for item in notice["items"]:
                for service in item["services"]:  # findings name no single service
                    self.got.append((notice["kind"], service, at))
                detected = item["record"].get("detected_at")
                if notice["kind"] == "incident_opened" and isinstance(detected, float):
                    self.after_detection.append(at - detected)
            return web.Response(status=204)

        app = web.Application()
        app.router.add_post("/hook", hook)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        return f"http://{host}:{port}/hook"


def _start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", *argv],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def _wait_ready(proc: subprocess.Popen[bytes], log: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode}; see {log}")
        if READY in log.read_bytes():
            return
        time.sleep(0.1)
    raise TimeoutError(f"not ready after {timeout} s; see {log}")


def _obs(service: str, status: Status, at: float, n: int, report: bool = False) -> bytes:
    return Observation(
        event_id=f"{service}-{n}",
        operator_id=f"op-{service[-1]}",
        service_id=service,
        sector="telecom",
        region="UA-30",
        kind=Kind.STATUS_REPORT if report else Kind.HEARTBEAT,
        observed_at=at,
        source="bench",
        status=status,
        attrs={"expected_interval_s": 600},
    ).to_json()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _progress(message: str) -> None:
    print(f"[bench notice] {message}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> dict[str, Any]:
    run_id = f"bn{uuid.uuid4().hex[:8]}"
    base = Settings.from_env(os.environ)
    settings = replace(base, topics=TopicNames(f"{run_id}."), app_id=f"{run_id}-worker")
    ensure_topic_layout(
        settings.kafka_bootstrap,
        settings.topics,
        partitions=settings.partitions,
        security=KafkaSecurity.from_settings(settings),
    )
    tmp = Path(tempfile.mkdtemp(prefix="notice-bench-"))
    receiver = Receiver()
    subs = tmp / "subs.yaml"
    subs.write_text(
        "version: 1\nsubscribers:\n  - id: bench\n    group_by: [service_id]\n"
        "    rate_limit: {max_notices: 100000, per_s: 60}\n"
        f'    channels: [{{type: webhook, url: "{receiver.url}", secret: {{env: BENCH_KEY}}}}]\n'
    )
    env = {
        "CW_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "CW_TOPIC_PREFIX": settings.topics.prefix,
        "CW_APP_ID": settings.app_id,
        "CW_METRICS_PORT": str(free_port()),
        "CW_WORKER_DATA_DIR": str(tmp / "data"),
        "CW_INFLUX_FLUSH_S": "1",
        "BENCH_KEY": KEY,
    }
    worker = _start(["worker"], env, tmp / "worker.log")
    notifier = _start(
        ["notify", "--subscriptions", str(subs), "--app-id", f"{run_id}-notifier",
         "--http-port", str(free_port())],
        env, tmp / "notifier.log",
    )  # fmt: skip
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, linger_ms=5, **kafka_python_options(settings)
    )
    stop = threading.Event()
    topic = settings.topics.observations
    try:
        _progress(f"starting a worker and a notifier (logs in {tmp})")
        _wait_ready(worker, tmp / "worker.log")
        _wait_ready(notifier, tmp / "notifier.log")
        _progress(f"ready; {args.rate:g} heartbeats/s for {args.warmup:g} s of warm-up")
        services = [f"{run_id}.svc{i}" for i in range(args.services)]

        targets, background = services[: args.incidents], services[args.incidents :]

        def load() -> None:  # heartbeats of the services that stay up
            n, started = 0, time.monotonic()
            while not stop.is_set():
                service = background[n % len(background)]
                producer.send(
                    topic, key=service.encode(), value=_obs(service, Status.UP, time.time(), n)
                )
                n += 1
                ahead = n / args.rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)

        for i, service in enumerate(services):  # every service known and up first
            producer.send(
                topic,
                key=service.encode(),
                value=_obs(service, Status.UP, time.time(), -i - 1, report=True),
            )
        producer.flush()
        loader = threading.Thread(target=load, daemon=True)
        loader.start()
        time.sleep(args.warmup)
        cpu_before = cpu_seconds(notifier.pid)
        evidence: dict[tuple[str, str], float] = {}
        _progress(f"opening {len(targets)} outages")
        for n, service in enumerate(targets):
            at = time.time()
            producer.send(
                topic,
                key=service.encode(),
                value=_obs(service, Status.DOWN, at, 10**6 + n, report=True),
            )
            producer.flush()
            evidence[("incident_opened", service)] = at
            time.sleep(args.spacing)
        _progress(f"opened {len(targets)} outages, {args.spacing:g} s apart; restoring them")
        for n, service in enumerate(targets):
            at = time.time()
            producer.send(
                topic,
                key=service.encode(),
                value=_obs(service, Status.UP, at, 2 * 10**6 + n, report=True),
            )
            producer.flush()
            evidence[("incident_restored", service)] = at
            time.sleep(args.spacing)
        _progress("waiting for the last notices")
        deadline = time.monotonic() + 30
        while (
            len({(k, s) for k, s, _ in receiver.got}) < len(evidence)
            and time.monotonic() < deadline
        ):
            time.sleep(0.1)
        cpu = cpu_seconds(notifier.pid) - cpu_before
    finally:
        stop.set()
        producer.close()
        for proc in (notifier, worker):
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        admin = KafkaAdminClient(
            bootstrap_servers=settings.kafka_bootstrap, **kafka_python_options(settings)
        )
        try:
            admin.delete_topics([t for t in admin.list_topics() if t.startswith(run_id)])
        finally:
            admin.close()
    result: dict[str, Any] = {"rate_obs_s": args.rate, "incidents": args.incidents}
    for kind in ("incident_opened", "incident_restored"):
        latencies = [
            at - evidence[(k, s)] for k, s, at in receiver.got if k == kind and (k, s) in evidence
        ]
        result[kind] = {
            "received": len(latencies),
            "p50_s": round(statistics.median(latencies), 3) if latencies else None,
            "p99_s": round(percentile(latencies, 0.99), 3) if latencies else None,
            "max_s": round(max(latencies), 3) if latencies else None,
        }
    path = receiver.after_detection
    result["detected_to_received"] = {
        "p50_s": round(statistics.median(path), 3) if path else None,
        "p99_s": round(percentile(path, 0.99), 3) if path else None,
    }
    # The same notice (id) received twice; a reopened outage is a new notice, not one of these.
    result["duplicates"] = len(receiver.notice_ids) - len(set(receiver.notice_ids))
    result["notifier_cpu_ms_per_incident"] = round(1000 * cpu / max(1, args.incidents), 2)
    return result


@click.command("notice")
@click.option("--incidents", type=int, default=30, show_default=True)
@click.option("--rate", type=float, default=200.0, show_default=True, help="Heartbeats/s.")
@click.option("--services", type=int, default=500, show_default=True, help="Incl. --incidents.")
@click.option("--spacing", type=float, default=0.5, show_default=True, help="s between outages.")
@click.option("--warmup", type=float, default=5.0, show_default=True, help="s of load first.")
def notice_bench_command(
    incidents: int, rate: float, services: int, spacing: float, warmup: float
) -> None:
    """Evidence -> notice latency through a worker, a notifier and a webhook receiver."""
    args = argparse.Namespace(
        incidents=incidents, rate=rate, services=services, spacing=spacing, warmup=warmup
    )
    click.echo(orjson.dumps(run(args), option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    notice_bench_command()
