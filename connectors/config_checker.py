"""Walks a config file's YAML node tree once, collecting every located error (connectors.config)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from connectors.base import OptionsError, ServiceSpec
from connectors.config_model import (
    ConfigError,
    DeploymentConfig,
    FeedConfig,
    OperatorConfig,
)
from connectors.registry import FEED_TYPES, build_options
from pipeline.core.schema import DEFAULT_SECTORS, sector_problem
from pipeline.core.yamlnodes import NodeWalker

_REGION = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


_TOP_KEYS = {"version", "sectors", "operators"}
_OPERATOR_KEYS = {"id", "name", "token_sha256", "services", "feeds"}
_SERVICE_KEYS = {
    "id",
    "name",
    "sector",
    "region",
    "expected_interval_s",
    "customers_served",
    "vantages",
}
_FEED_KEYS = {"id", "type", "url", "path", "interval_s", "timeout_s", "service", "map", "options"}


class Checker(NodeWalker):
    """Walks the node tree once, collecting errors and building the config."""

    def __init__(self, path: Path) -> None:
        super().__init__(str(path))
        self.path = path
        self.sectors: frozenset[str] = DEFAULT_SECTORS
        self.service_ids: dict[str, tuple[str, str]] = {}  # id -> (where declared, operator)
        self.feed_ids: set[str] = set()
        self.operator_ids: set[str] = set()

    def text(self, node: yaml.Node, where: str, pattern: re.Pattern[str] | None = None) -> str:
        value = self.value(node, where)
        if not isinstance(value, str) or not value:
            self.error(node, where, "must be a non-empty string")
            return ""
        if pattern is not None and not pattern.match(value):
            self.error(node, where, f"{value!r} does not match {pattern.pattern}")
        return value

    def raw_text(self, node: yaml.Node, where: str) -> str:
        """A scalar's source text, whatever type YAML would resolve it to."""
        if not isinstance(node, yaml.ScalarNode) or not node.value:
            self.error(node, where, "must be a non-empty string")
            return ""
        return str(node.value)

    def number(self, node: yaml.Node, where: str, *, positive: bool = True) -> float:
        value = self.value(node, where)
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            self.error(node, where, "must be a number")
            return 1.0
        if positive and value <= 0:
            self.error(node, where, "must be greater than 0")
        return float(value)

    # -- structure --------------------------------------------------------------------------

    def run(self) -> tuple[DeploymentConfig | None, list[ConfigError]]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.errors.append(ConfigError(str(self.path), 0, 0, "(file)", _unreadable(exc)))
            return None, self.errors
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            detail = f"{exc.problem or ''} {exc.context or ''}".strip() or "invalid YAML"
            self.errors.append(ConfigError(str(self.path), line, col, "(yaml)", detail))
            return None, self.errors
        except yaml.YAMLError as exc:
            self.errors.append(ConfigError(str(self.path), 1, 1, "(yaml)", str(exc)))
            return None, self.errors
        if root is None:
            self.errors.append(ConfigError(str(self.path), 1, 1, "(top)", "file is empty"))
            return None, self.errors
        top = self.mapping(root, "", _TOP_KEYS)
        if top is None:
            return None, self.errors
        if "version" not in top:
            self.error(root, "version", "is required (version: 1)")
        elif self.value(top["version"][1], "version") != 1:
            self.error(top["version"][1], "version", "only version 1 is supported")
        if "sectors" in top:
            extra = self.value(top["sectors"][1], "sectors")
            if isinstance(extra, list) and all(isinstance(s, str) and s for s in extra):
                self.sectors = DEFAULT_SECTORS | frozenset(extra)
                # The worker's own rule: a declared sector must be one it accepts.
                for index, name in enumerate(extra):
                    problem = sector_problem(name)
                    if problem is not None:
                        node = top["sectors"][1]
                        item = node.value[index] if isinstance(node, yaml.SequenceNode) else node
                        self.error(item, f"sectors[{index}]", problem)
            else:
                self.error(top["sectors"][1], "sectors", "must be a list of names")
        if "operators" not in top:
            self.error(root, "operators", "is required")
            return None, self.errors
        operator_nodes = list(self.sequence(top["operators"][1], "operators"))
        if not operator_nodes and isinstance(top["operators"][1], yaml.SequenceNode):
            self.error(top["operators"][1], "operators", "must list at least one operator")
        # Services first, so a feed may reference only its own operator's services.
        shells = [self.operator_head(where, node) for where, node in operator_nodes]
        operators = tuple(self.operator_feeds(shell) for shell in shells if shell is not None)
        if self.errors:
            return None, self.errors
        return DeploymentConfig(self.path, operators, self.sectors), []

    def operator_head(self, where: str, node: yaml.Node) -> _OperatorShell | None:
        keys = self.mapping(node, where, _OPERATOR_KEYS)
        if keys is None:
            return None
        for required in ("id", "services"):
            if required not in keys:
                self.error(node, f"{where}.{required}", "is required")
        if "token_sha256" not in keys and "feeds" not in keys:
            # Without feeds an operator can only push, and pushing needs a token.
            self.error(
                node,
                f"{where}.token_sha256",
                "is required for an operator without feeds (it can only push observations)",
            )
        if "id" not in keys:
            return None
        operator_id = self.text(keys["id"][1], f"{where}.id", _ID)
        if operator_id in self.operator_ids:
            self.error(keys["id"][1], f"{where}.id", f"operator {operator_id!r} declared twice")
        self.operator_ids.add(operator_id)
        token = ""
        if "token_sha256" in keys:
            # Raw scalar text: an all-digit digest must not turn into a YAML integer.
            token = self.raw_text(keys["token_sha256"][1], f"{where}.token_sha256")
            if token and not _SHA256.match(token):
                self.error(
                    keys["token_sha256"][1],
                    f"{where}.token_sha256",
                    "must be 64 lower-case hex digits (sha256 of the token, not the token)",
                )
        services: list[ServiceSpec] = []
        if "services" in keys:
            for s_where, s_node in self.sequence(keys["services"][1], f"{where}.services"):
                spec = self.service(s_where, s_node, operator_id)
                if spec is not None:
                    services.append(spec)
        return _OperatorShell(where, operator_id, token, tuple(services), keys.get("feeds"))

    def service(self, where: str, node: yaml.Node, operator_id: str) -> ServiceSpec | None:
        keys = self.mapping(node, where, _SERVICE_KEYS)
        if keys is None:
            return None
        missing = [k for k in ("id", "sector", "region", "expected_interval_s") if k not in keys]
        for name in missing:
            self.error(node, f"{where}.{name}", "is required")
        if "id" in keys:
            # Registered even if the rest is wrong: duplicates and references are checked
            # in the same pass as everything else, not after the other errors are fixed.
            service_id = self.text(keys["id"][1], f"{where}.id", _ID)
            if service_id in self.service_ids:
                first_where, first_owner = self.service_ids[service_id]
                self.error(
                    keys["id"][1],
                    f"{where}.id",
                    f"service {service_id!r} declared twice (first at {first_where}, "
                    f"operator {first_owner!r})",
                )
            else:
                self.service_ids[service_id] = (where, operator_id)
        if missing:
            return None
        sector = self.text(keys["sector"][1], f"{where}.sector")
        if sector and sector not in self.sectors:
            self.error(
                keys["sector"][1],
                f"{where}.sector",
                f"{sector!r} is not one of {sorted(self.sectors)}",
            )
        region = self.text(keys["region"][1], f"{where}.region", _REGION)
        interval = self.number(keys["expected_interval_s"][1], f"{where}.expected_interval_s")
        served: int | None = None
        if "customers_served" in keys:
            value = self.value(keys["customers_served"][1], f"{where}.customers_served")
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                self.error(
                    keys["customers_served"][1],
                    f"{where}.customers_served",
                    "must be a whole number >= 0",
                )
            else:
                served = value
        vantages: tuple[str, ...] = ()
        if "vantages" in keys:
            value = self.value(keys["vantages"][1], f"{where}.vantages")
            if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
                vantages = tuple(value)
            else:
                self.error(keys["vantages"][1], f"{where}.vantages", "must be a list of names")
        return ServiceSpec(operator_id, service_id, sector, region, interval, served, vantages)

    def operator_feeds(self, shell: _OperatorShell) -> OperatorConfig:
        feeds: list[FeedConfig] = []
        if shell.feeds is not None:
            own = {s.service_id for s in shell.services}
            for f_where, f_node in self.sequence(shell.feeds[1], f"{shell.where}.feeds"):
                feed = self.feed(f_where, f_node, shell.operator_id, own)
                if feed is not None:
                    feeds.append(feed)
        return OperatorConfig(shell.operator_id, shell.token, shell.services, tuple(feeds))

    def feed(
        self, where: str, node: yaml.Node, operator_id: str, own: set[str]
    ) -> FeedConfig | None:
        keys = self.mapping(node, where, _FEED_KEYS)
        if keys is None:
            return None
        for required in ("id", "type"):
            if required not in keys:
                self.error(node, f"{where}.{required}", "is required")
        if "id" not in keys or "type" not in keys:
            return None
        feed_id = self.text(keys["id"][1], f"{where}.id", _ID)
        if feed_id in self.feed_ids:
            self.error(keys["id"][1], f"{where}.id", f"feed {feed_id!r} declared twice")
        self.feed_ids.add(feed_id)
        kind = self.text(keys["type"][1], f"{where}.type")
        feed_type = FEED_TYPES.get(kind)
        if feed_type is None:
            self.error(
                keys["type"][1], f"{where}.type", f"{kind!r} is not one of {sorted(FEED_TYPES)}"
            )
        url = self.text(keys["url"][1], f"{where}.url") if "url" in keys else None
        schemes = feed_type.schemes if feed_type is not None else ("http", "https")
        if url and not url.startswith(tuple(f"{s}://" for s in schemes)):
            allowed = " or ".join(f"{s}://" for s in schemes)
            self.error(keys["url"][1], f"{where}.url", f"must be an {allowed} URL")
        path: Path | None = None
        if "path" in keys:
            given = self.text(keys["path"][1], f"{where}.path")
            path = (self.path.parent / given).resolve()
            if given and not path.is_file():
                self.error(
                    keys["path"][1],
                    f"{where}.path",
                    f"no such file: {path} (a path is relative to the config file's directory)",
                )
        if (url is None) == (path is None):
            self.error(node, f"{where}.url", "give exactly one of url or path")
        elif feed_type is not None and feed_type.needs_url and url is None:
            self.error(node, f"{where}.url", f"a {kind} feed needs a url (it subscribes)")
        interval = (
            self.number(keys["interval_s"][1], f"{where}.interval_s")
            if "interval_s" in keys
            else 60.0
        )
        timeout = (
            self.number(keys["timeout_s"][1], f"{where}.timeout_s") if "timeout_s" in keys else 10.0
        )
        service = None
        if "service" in keys:
            service = self.text(keys["service"][1], f"{where}.service")
            self.check_own(keys["service"][1], f"{where}.service", service, operator_id, own)
        mapping: dict[str, str] = {}
        if "map" in keys:
            m_node = keys["map"][1]
            value = self.value(m_node, f"{where}.map")
            if not isinstance(value, dict):
                self.error(m_node, f"{where}.map", "must map feed keys to service ids")
            else:
                assert isinstance(m_node, yaml.MappingNode)
                for key_node, value_node in m_node.value:
                    # Raw text: route "0011" must stay "0011", not YAML's octal 9.
                    key = self.raw_text(key_node, f"{where}.map")
                    target = self.text(value_node, f"{where}.map.{key}")
                    self.check_own(value_node, f"{where}.map.{key}", target, operator_id, own)
                    mapping[key] = target
        if service is None and not mapping:
            self.error(node, f"{where}.service", "a feed needs a service, a map, or both")
        if feed_type is not None and feed_type.needs_url and not mapping:
            self.error(node, f"{where}.map", f"a {kind} feed maps each topic to a service")
        options: Any = None
        if feed_type is not None:
            options = self.options(keys.get("options"), f"{where}.options", feed_type.options)
        return FeedConfig(
            feed_id, operator_id, kind, interval, url, path, service, mapping, options, timeout
        )

    def check_own(
        self, node: yaml.Node, where: str, service: str, operator_id: str, own: set[str]
    ) -> None:
        if service in own or not service:
            return
        declared = self.service_ids.get(service)
        if declared is None:
            self.error(
                node,
                where,
                f"unknown service {service!r} (declare it under this operator's services)",
            )
        else:
            declared_at, owner = declared
            self.error(
                node,
                where,
                f"service {service!r} is declared at {declared_at} under operator {owner!r}; "
                f"a feed of operator {operator_id!r} may only report on that operator's services",
            )

    def options(self, pair: tuple[yaml.Node, yaml.Node] | None, where: str, cls: type[Any]) -> Any:
        values: Any = {} if pair is None else self.value(pair[1], where)
        if not isinstance(values, dict):
            self.error(pair[1] if pair else None, where, "must be a mapping")
            return None
        try:
            return build_options(cls, values)
        except OptionsError as exc:
            node = pair[1] if pair else None
            if isinstance(node, yaml.MappingNode):
                # Point at the offending key's value, not at the whole options block.
                node = next(
                    (v for k, v in node.value if getattr(k, "value", None) == exc.field), node
                )
            self.error(node, f"{where}.{exc.field}", exc.message)
            return None


def _unreadable(exc: OSError | UnicodeDecodeError) -> str:
    """Why the config file cannot be read, in words (no errno)."""
    if isinstance(exc, FileNotFoundError):
        return "no such file; check the path (continuity connectors validate PATH)"
    if isinstance(exc, IsADirectoryError):
        return "is a directory; give the YAML file inside it"
    if isinstance(exc, PermissionError):
        return "cannot be read: permission denied"
    if isinstance(exc, UnicodeDecodeError):
        return f"is not UTF-8 text (byte {exc.start}); save the config as UTF-8"
    return f"cannot be read: {exc.strerror or exc}"


@dataclass(frozen=True, slots=True)
class _OperatorShell:
    where: str
    operator_id: str
    token: str
    services: tuple[ServiceSpec, ...]
    feeds: tuple[yaml.Node, yaml.Node] | None
