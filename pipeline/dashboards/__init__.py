"""Grafana dashboards built as code."""
