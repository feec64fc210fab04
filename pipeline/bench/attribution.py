"""Where a worker's time goes: py-spy samples by component, records written per observation.

py-spy samples a thread whenever it is not sleeping, so on a loaded machine a sample also
counts time the worker was runnable but waiting for a core (notably right after a socket
write wakes the broker). Shares are therefore of *non-idle* time, which is the time that
bounds throughput here; the worker's CPU per observation comes from ``/proc``.

>>> main = "run_forever (asyncio/base_events.py:607);Handle._run (asyncio/events.py:80)"
>>> text = (main + ";ObservationProcessor.handle (pipeline/worker/processor.py:99) 3\\n"
...         + main + ";Sender._send_produce_req (aiokafka/producer/sender.py:1) 1\\n")
>>> shares = attribute(text)
>>> shares["agent: ObservationProcessor.handle"], shares["aiokafka produce requests"]
(75.0, 25.0)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pipeline.bench.kafka_io import end_offsets
from pipeline.ops.kafka_security import PLAINTEXT, KafkaSecurity

#: (component, frame markers): a sample goes to the first component any of whose markers
#: occurs in its stack, so the order runs from the most specific to the most general.
COMPONENTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("metrics scrape (/metrics, bench's final sample)", ("generate_latest", "wsgiref")),
    ("InfluxDB writes (thread)", ("InfluxSink.flush", "influxdb_client", "flush_history")),
    ("agent: ObservationProcessor.handle", ("ObservationProcessor.handle",)),
    (
        "agent: state flush (encode, table set, changelog send)",
        ("ObservationProcessor.flush", "LiveStates.flush"),
    ),
    ("agent: send outputs", ("create_app.<locals>.send", "send_outputs", "OutputSender")),
    ("timers (silence check, indicator roll-up)", ("check_services", "roll_up_indicators")),
    ("ledger agent", ("keep_ledger", "LedgerProcessor")),
    ("aiokafka produce requests", ("_send_produce_req", "SendProduceReqHandler", "Sender.")),
    (
        "faust producer buffer / publish",
        ("ProducerBuffer", "publish_message", "Producer.send", "_send_pending"),
    ),
    ("offset commits", ("commit_handler", "commit_offsets", "Consumer.commit", "commit_tps")),
    (
        "consume: fetch, decode, faust stream delivery",
        (
            "Fetcher",
            "_drain_messages",
            "Conductor",
            "Stream.",
            "on_message",
            "take_events",
            "add_to_buffer",
            "_slurp",
            "getmany",
        ),
    ),
    # uvloop runs in C: its samples end in the frame that started it.
    ("event loop (select, scheduling)", ("_run_once", "run_forever", "execute_from_commandline")),
    ("other threads", ("Thread._bootstrap",)),
)

OTHER = "other"


def attribute(collapsed: str) -> dict[str, float]:
    """Share (%) of py-spy ``--format raw`` samples per component of :data:`COMPONENTS`."""
    counts: dict[str, int] = {name: 0 for name, _markers in COMPONENTS}
    counts[OTHER] = 0
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        for name, markers in COMPONENTS:
            if any(marker in stack for marker in markers):
                counts[name] += count
                break
        else:
            counts[OTHER] += count
    return {name: round(100.0 * n / total, 2) if total else 0.0 for name, n in counts.items()}


def topic_totals(
    bootstrap: str, topics: list[str], security: KafkaSecurity = PLAINTEXT
) -> dict[str, int]:
    """Records on each topic so far (sum of end offsets; topics are never trimmed here)."""
    return {
        topic: sum(end_offsets(bootstrap, topic, security=security).values()) for topic in topics
    }


def per_observation(
    before: Mapping[str, int], after: Mapping[str, int], observations: int
) -> dict[str, float]:
    """Records written to each topic between two :func:`topic_totals`, per observation.

    >>> per_observation({"a": 10}, {"a": 30, "b": 5}, 10)
    {'a': 2.0, 'b': 0.5}
    """
    return {
        topic: (count - before.get(topic, 0)) / observations
        for topic, count in sorted(after.items())
    }


def thread_cpu(pid: int) -> dict[str, tuple[float, float]]:
    """(user, system) CPU seconds per thread name of ``pid`` so far, from /proc; threads of
    the same name are summed. User vs system separates our Python from socket syscalls."""
    ticks = os.sysconf("SC_CLK_TCK")
    by_name: dict[str, tuple[float, float]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        user, system = by_name.get(name, (0.0, 0.0))
        by_name[name] = (user + int(fields[11]) / ticks, system + int(fields[12]) / ticks)
    return by_name


def cpu_delta(
    before: Mapping[str, tuple[float, float]], after: Mapping[str, tuple[float, float]]
) -> dict[str, dict[str, float]]:
    """CPU seconds per thread name between two :func:`thread_cpu` readings.

    >>> cpu_delta({"a": (1.0, 0.5)}, {"a": (3.0, 0.75), "b": (0.25, 0.0)})
    {'a': {'user_s': 2.0, 'system_s': 0.25}, 'b': {'user_s': 0.25, 'system_s': 0.0}}
    """
    out: dict[str, dict[str, float]] = {}
    for name, (user, system) in sorted(after.items()):
        user0, system0 = before.get(name, (0.0, 0.0))
        out[name] = {"user_s": round(user - user0, 3), "system_s": round(system - system0, 3)}
    return out
