"""Fault injection against the real stack: each fault, then what was lost, duplicated, and how
long recovery took (``continuity bench chaos``; results in docs/reliability.md).

Every run uses its own topic prefix, consumer groups and InfluxDB database; faults that stop a
server (InfluxDB) use a server of the run's own, started from the same cached binaries and
scripts as the local stack, never the shared one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import orjson

from pipeline.bench.chaos_broker import broker_kill_of_three, broker_restart
from pipeline.bench.chaos_run import ChaosRun, OwnInfluxDB, with_errors
from pipeline.config.settings import Settings
from pipeline.core.commands import sign_command
from pipeline.ops.influx_admin import ensure_database


def worker_kill(run: ChaosRun) -> dict[str, Any]:
    """kill -9 while the first half is still being produced and processed, then restart."""
    half = run.rounds // 2
    first = run.worker()
    first_half = run.observations(range(half))
    chunks = [first_half[i : i + 50] for i in range(0, len(first_half), 50)]

    def paced() -> None:  # about 2 s of traffic, so the kill lands mid-stream
        for chunk in chunks:
            run.produce(chunk)
            time.sleep(2.0 / len(chunks))

    producer = threading.Thread(target=paced)
    producer.start()
    time.sleep(1.0)
    assert first.proc is not None
    first.proc.kill()
    first.proc.wait()
    killed = time.monotonic()
    run.worker()
    ready = time.monotonic() - killed
    producer.join()
    run.produce(run.observations(range(half, run.rounds)))
    run.wait_all_changes(timeout=180)
    caught_up = time.monotonic() - killed
    influx = run.wait_influx(run.settings.influx_url, timeout=120)
    return {
        **run.report(run.settings.influx_url),
        "restart_to_ready_s": round(ready, 1),
        "kill_to_all_changes_s": round(caught_up, 1),
        "influx_caught_up_after_s": round(influx, 1),
    }


def influx_down(run: ChaosRun, outage_s: float = 60.0) -> dict[str, Any]:
    """InfluxDB down for ``outage_s`` with a worker restart inside the outage."""
    influx = OwnInfluxDB(run.workdir / "influx")
    run.settings = replace(run.settings, influx_url=influx.url)
    influx.start()
    try:
        ensure_database(influx.url, run.settings.influx_bucket)
        worker = run.worker()
        half = run.rounds // 2
        run.produce(run.observations(range(half)))
        influx.stop()
        down_at = time.monotonic()
        worker.stop()
        run.worker()  # starts and processes while InfluxDB is down
        run.produce(run.observations(range(half, run.rounds)))
        processed_during_outage = run.wait_all_changes(timeout=max(5.0, outage_s - 5)) >= 0
        time.sleep(max(0.0, outage_s - (time.monotonic() - down_at)))
        influx.start()
        caught_up = run.wait_influx(influx.url, timeout=180)
        return {
            **run.report(influx.url),
            "outage_s": round(time.monotonic() - down_at - caught_up, 1),
            "processed_while_down": processed_during_outage,
            "influx_caught_up_after_s": round(caught_up, 1),
        }
    finally:
        with_errors(influx.stop)


def poison(run: ChaosRun) -> dict[str, Any]:
    """Poison records between valid ones on the same key: all valid ones still processed."""
    run.worker()
    key = run.services[0].encode()
    valid = run.observations(range(run.rounds))
    bad_ack = {"type": "acknowledge", "service_id": run.services[0], "by": "x", "at": "abc"}
    poison_records: list[tuple[bytes, bytes | None]] = [
        (key, None),
        (key, b'{"schema": 1, "attrs": {"blob": "' + b"x" * 900_000 + b'"}}'),
        (key, b"{not json"),
    ]
    commands = [
        (key, orjson.dumps(sign_command(bad_ack, (run.settings.command_key or "").encode()))),
        (key, orjson.dumps({**bad_ack, "at": time.time()})),  # unsigned
    ]
    half = len(valid) // 2
    run.produce(valid[:half])
    run.produce(poison_records)
    run.produce(commands, topic=run.settings.topics.commands)
    run.produce(valid[half:])
    caught_up = run.wait_all_changes(timeout=120)
    dead = run.topic(run.settings.topics.deadletter)
    return {
        **run.report(run.settings.influx_url),
        "poison_records": len(poison_records) + len(commands),
        "dead_lettered": len(dead),
        "reasons": sorted({d["reason"] for d in dead}),
        "valid_after_poison_processed_in_s": round(caught_up, 1),
    }


SCENARIOS: dict[str, Callable[[ChaosRun], dict[str, Any]]] = {
    "worker-kill": worker_kill,
    "influx-down": influx_down,
    "poison": poison,
    "broker-restart": broker_restart,
    "broker-kill-of-three": broker_kill_of_three,
}


def run_scenario(base: Settings, name: str, *, services: int, rounds: int) -> dict[str, Any]:
    run = ChaosRun.create(base, name, services, rounds)
    try:
        ensure_database(base.influx_url, run.settings.influx_bucket)
        return {"scenario": name, "services": services, "rounds": rounds, **SCENARIOS[name](run)}
    finally:
        run.close()
