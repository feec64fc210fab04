"""One place that builds the per-service machinery from :class:`Settings`.

The worker, the scenario replay (``continuity evaluate --engine worker``) and the bench all
call these, so they run the same detectors with the same parameters.

>>> from dataclasses import replace
>>> build_monitoring(replace(Settings(), default_interval=300.0)).params.silence.default_interval
300.0
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pipeline.config.settings import Settings
from pipeline.detection.blips import BlipPolicy
from pipeline.incidents.maintenance import MaintenanceCalendar
from pipeline.metrics.worker import WorkerMetrics
from pipeline.monitoring.monitor import Monitoring, MonitorParams
from pipeline.monitoring.status import SilencePolicy
from pipeline.sinks.influx import InfluxSink
from pipeline.worker.processor import ObservationProcessor


def monitor_params(settings: Settings) -> MonitorParams:
    """Detector and lifecycle parameters: the silence and blip policies from settings, the
    rest defaults."""
    return MonitorParams(
        silence=SilencePolicy(
            default_interval=settings.default_interval,
            lateness_allowance=settings.lateness_allowance,
        ),
        blips=BlipPolicy.parse(settings.blip_policy),
    )


def build_monitoring(settings: Settings, calendar: MaintenanceCalendar | None = None) -> Monitoring:
    return Monitoring(monitor_params(settings), calendar)


def build_processor(
    settings: Settings,
    metrics: WorkerMetrics,
    *,
    calendar: MaintenanceCalendar | None = None,
    clock: Callable[[], float] = time.time,
    sink: InfluxSink | None = None,
    status_points: bool = True,
    defer_writes: bool = False,
) -> ObservationProcessor:
    """The worker's per-service processor (its ``monitoring`` is what LiveStates needs);
    commands are verified with the settings' command key."""
    monitoring = build_monitoring(settings, calendar)
    command_key = settings.command_key.encode() if settings.command_key else None
    return ObservationProcessor(
        monitoring,
        metrics,
        clock=clock,
        sink=sink,
        command_key=command_key,
        status_points=status_points,
        defer_writes=defer_writes,
    )
