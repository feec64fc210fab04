"""Typed readers over YAML nodes for the notice configs (subscriptions and channels).

The shared walk (error location, mappings, lists) is :class:`pipeline.core.yamlnodes.NodeWalker`.
"""

from __future__ import annotations

import re

import yaml

from pipeline.core.yamlnodes import ConfigError, ConfigInvalidError, Keys, NodeWalker

__all__ = ["ConfigError", "ConfigInvalidError", "Keys", "NodeReader"]


class NodeReader(NodeWalker):
    """Typed accessors over YAML nodes that record errors and return safe defaults."""

    def require(self, node: yaml.Node, keys: Keys, where: str, *names: str) -> bool:
        """Record an error for every missing key; True when none is missing."""
        missing = [name for name in names if name not in keys]
        for name in missing:
            self.error(node, f"{where}.{name}" if where else name, "is required")
        return not missing

    def text(
        self, node: yaml.Node, where: str, pattern: re.Pattern[str] | None = None, hint: str = ""
    ) -> str:
        value = self.value(node, where)
        if not isinstance(value, str) or not value:
            self.error(node, where, "must be a non-empty string")
            return ""
        if pattern is not None and not pattern.match(value):
            self.error(node, where, f"{value!r} is not valid{': ' + hint if hint else ''}")
        return value

    def choice(self, node: yaml.Node, where: str, options: tuple[str, ...]) -> str:
        value = self.text(node, where)
        if value and value not in options:
            self.error(node, where, f"{value!r} is not one of: {', '.join(options)}")
            return options[0]
        return value or options[0]

    def texts(
        self,
        node: yaml.Node,
        where: str,
        pattern: re.Pattern[str] | None = None,
        options: tuple[str, ...] | None = None,
        hint: str = "",
    ) -> tuple[str, ...]:
        """A list of non-empty strings (each checked against ``pattern`` / ``options``)."""
        out: list[str] = []
        for item_where, item in self.sequence(node, where):
            if options is not None:
                out.append(self.choice(item, item_where, options))
            else:
                out.append(self.text(item, item_where, pattern, hint))
        return tuple(out)

    def number(
        self, node: yaml.Node, where: str, *, minimum: float = 0.0, exclusive: bool = True
    ) -> float:
        value = self.value(node, where)
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            self.error(node, where, "must be a number")
            return max(minimum, 1.0)
        if value < minimum or (exclusive and value == minimum):
            self.error(node, where, f"must be {'>' if exclusive else '>='} {minimum:g}")
        return float(value)

    def integer(self, node: yaml.Node, where: str, *, minimum: int = 1) -> int:
        value = self.value(node, where)
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(node, where, "must be a whole number")
            return minimum
        if value < minimum:
            self.error(node, where, f"must be >= {minimum}")
        return value

    def flag(self, node: yaml.Node, where: str) -> bool:
        value = self.value(node, where)
        if not isinstance(value, bool):
            self.error(node, where, "must be true or false")
            return False
        return value
