"""Prometheus export: worker counters, per-service status series and indicator gauges."""
