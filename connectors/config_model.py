"""The deployment config as the connectors use it (see connectors.config for the file format)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.base import ServiceSpec
from pipeline.core.schema import DEFAULT_SECTORS
from pipeline.core.yamlnodes import ConfigError, ConfigInvalidError

__all__ = ["ConfigError", "ConfigInvalidError"]  # one type for every config file


@dataclass(frozen=True, slots=True)
class FeedConfig:
    feed_id: str
    operator_id: str
    type: str
    interval_s: float
    url: str | None = None
    path: Path | None = None
    service: str | None = None
    mapping: Mapping[str, str] = field(default_factory=dict)
    options: Any = None
    timeout_s: float = 10.0


@dataclass(frozen=True, slots=True)
class OperatorConfig:
    operator_id: str
    token_sha256: str
    services: tuple[ServiceSpec, ...]
    feeds: tuple[FeedConfig, ...]


@dataclass(frozen=True, slots=True)
class DeploymentConfig:
    path: Path
    operators: tuple[OperatorConfig, ...]
    sectors: frozenset[str] = DEFAULT_SECTORS

    @property
    def services(self) -> dict[str, ServiceSpec]:
        return {s.service_id: s for op in self.operators for s in op.services}

    @property
    def feeds(self) -> list[FeedConfig]:
        return [f for op in self.operators for f in op.feeds]

    def operator(self, operator_id: str) -> OperatorConfig | None:
        return next((op for op in self.operators if op.operator_id == operator_id), None)
