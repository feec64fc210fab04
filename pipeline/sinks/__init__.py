"""Sinks: where the worker's findings go besides Kafka."""

from pipeline.sinks.influx import InfluxSink, incident_point, indicator_point, status_point

__all__ = ["InfluxSink", "incident_point", "indicator_point", "status_point"]
