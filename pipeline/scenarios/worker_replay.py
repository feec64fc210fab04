"""Replay a scenario through the worker's own wiring (``Monitoring``).

:class:`~pipeline.scenarios.replay.Replayer` wires the detectors the way the evaluation was
designed; this does exactly what a worker does per message and per tick (status tracker with
silence, probe consensus or single-probe hysteresis, level drop, KPI scores, incident
lifecycle, ledger correlation), so ``continuity evaluate --engine worker`` scores the code
that runs in production. Same interface as the Replayer for :func:`evaluation.score`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from pipeline.config.settings import Settings
from pipeline.core.schema import Observation
from pipeline.detection.correlation import DisruptionCorrelator, Finding
from pipeline.incidents.maintenance import MaintenanceCalendar
from pipeline.incidents.model import Incident
from pipeline.monitoring.monitor import Monitoring, MonitorParams, MonitorResult, ServiceMonitor
from pipeline.worker.ledger_records import correlate
from pipeline.worker.wiring import build_monitoring


class WorkerReplay:
    """Feeds observations through :class:`Monitoring` as the worker does."""

    def __init__(
        self,
        calendar: MaintenanceCalendar,
        *,
        heartbeat_interval_s: float,
        check_every_s: float = 5.0,
        correlation_window_s: float = 900.0,
        params: MonitorParams | None = None,
        on_result: Callable[[MonitorResult], None] | None = None,
    ) -> None:
        if params is None:
            settings = replace(Settings(), default_interval=heartbeat_interval_s)
            self.monitoring = build_monitoring(settings, calendar)
        else:
            self.monitoring = Monitoring(params, calendar)
        self.on_result = on_result
        self.monitors: dict[str, ServiceMonitor] = {}
        self.correlator = DisruptionCorrelator(correlation_window_s)
        self.findings: list[Finding] = []
        self.kpi_scores: list[tuple[str, float, float]] = []
        self.check_every_s = check_every_s
        self.watermark = float("-inf")
        self._next_check = float("-inf")

    def process(self, obs: Observation, arrival: float | None = None) -> None:
        """One observation in arrival order; ``arrival`` (the clock when it arrived) stands in
        for the wall clock, else the newest event time seen does."""
        clock = obs.observed_at if arrival is None else max(arrival, obs.observed_at)
        if clock > self.watermark:
            self.watermark = clock
            if self.watermark >= self._next_check:
                self.advance(self.watermark)
                self._next_check = self.watermark + self.check_every_s
        monitor, result = self.monitoring.observe(
            self.monitors.get(obs.service_id), obs, partition=0, now=self.watermark
        )
        self.monitors[obs.service_id] = monitor
        self._collect(result)

    def advance(self, now: float) -> None:
        """The worker's periodic check, with event time standing in for the wall clock."""
        for monitor in self.monitors.values():
            if self.monitoring.monitor_needs_check(monitor, now):
                self._collect(self.monitoring.check(monitor, now=now))

    def _collect(self, result: MonitorResult) -> None:
        if self.on_result is not None:
            self.on_result(result)
        for event in result.incident_events:
            self.findings.extend(correlate(self.correlator, event.kind, event.incident))
        self.kpi_scores.extend((a.service_id, a.at, a.score) for a in result.anomalies)

    def incidents(self) -> list[Incident]:
        return [i for m in self.monitors.values() for i in m.incidents.incidents()]
