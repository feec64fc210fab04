"""The benchmark stages, one module each. Each returns a JSON-able dict of figures; none
gates on speed.

* :mod:`.common`: the run (namespace, workers, cleanup), percentiles, waiting;
* :mod:`.fill` (1) and :mod:`.ceiling` (2): producer baseline and bare-consumer ceiling;
* :mod:`.throughput` (3): real worker processes, one or more;
* :mod:`.processor` (3b): the worker's processor in process, and its profile;
* :mod:`.latency` (4): evidence to status/incident, silence delay;
* :mod:`.state` (5): state size per service;
* :mod:`.recovery` (6): ready again after ``kill -9`` (changelog replay);
* :mod:`.provenance`: which code, which machine.
"""

from pipeline.bench.stages.ceiling import ceiling
from pipeline.bench.stages.common import (
    PROCESSOR_BATCH,
    QUIET_INTERVAL_S,
    BenchRun,
    Records,
    percentile,
    summarise,
)
from pipeline.bench.stages.fill import fill, generate
from pipeline.bench.stages.latency import LatencyLoad, latency, latency_loads, parse_loads
from pipeline.bench.stages.processor import make_processor, processor_only, profile_processor
from pipeline.bench.stages.provenance import machine, provenance
from pipeline.bench.stages.recovery import recovery
from pipeline.bench.stages.state import dict_size, state_size
from pipeline.bench.stages.throughput import worker_throughput

__all__ = [
    "PROCESSOR_BATCH",
    "QUIET_INTERVAL_S",
    "BenchRun",
    "LatencyLoad",
    "Records",
    "ceiling",
    "dict_size",
    "fill",
    "generate",
    "latency",
    "latency_loads",
    "machine",
    "make_processor",
    "parse_loads",
    "percentile",
    "processor_only",
    "profile_processor",
    "provenance",
    "recovery",
    "state_size",
    "summarise",
    "worker_throughput",
]
