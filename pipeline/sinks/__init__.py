"""Sinks: where the worker's findings go besides Kafka."""

from pipeline.sinks.influx import InfluxSink, status_point

__all__ = ["InfluxSink", "status_point"]
