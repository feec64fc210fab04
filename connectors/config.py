"""Deployment config: operators, their services and their feeds, in one YAML file.

Validation walks YAML's *node* tree (``yaml.compose``) rather than the loaded data, so every
error carries the file, line and column of the offending value plus its field path::

    demo.yaml:14:17: operators[0].services[0].sector: 'enrgy' is not one of [...]

Shape (unknown keys are errors: a typo must not silently disable a feed)::

    version: 1
    sectors: [water]            # optional: lower-case names added to the four built-in ones
    operators:
      - id: aes-ohio
        token_sha256: <64 hex>  # sha256 of the push-ingest token (only needed to push)
        services:
          - {id: energy.aes.grid, sector: energy, region: US-OH,
             expected_interval_s: 300, customers_served: 530000, vantages: [dayton-1]}
        feeds:
          - id: aes-outage-map
            type: outage        # see connectors.registry.FEED_TYPES
            url: https://...    # or path: (relative to this file)
            interval_s: 300
            service: energy.aes.grid       # feed-level evidence goes here
            map: {MONTGOMERY: energy.aes.montgomery}  # feed-native key -> service id
            options: {format: aes_xml, timezone: America/New_York}
"""

from __future__ import annotations

from pathlib import Path

from connectors.config_checker import Checker
from connectors.config_model import (
    ConfigError,
    ConfigInvalidError,
    DeploymentConfig,
    FeedConfig,
    OperatorConfig,
)

__all__ = [
    "ConfigError",
    "ConfigInvalidError",
    "DeploymentConfig",
    "FeedConfig",
    "OperatorConfig",
    "load_config",
    "validate_config",
]


def validate_config(path: str | Path) -> list[ConfigError]:
    """Every problem in the file (empty list when it is valid)."""
    return Checker(Path(path)).run()[1]


def load_config(path: str | Path) -> DeploymentConfig:
    """The parsed config; raises :class:`ConfigInvalidError` listing every problem."""
    config, errors = Checker(Path(path)).run()
    if errors or config is None:
        raise ConfigInvalidError(errors)
    return config
