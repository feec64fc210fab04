"""Reading a YAML node tree with every error located to file:line:col and a field path.

Config classes parse themselves from nodes through a :class:`NodeReader`, which collects
errors instead of raising, so one run reports every problem in the file::

    subs.yaml:7:20: subscribers[0].min_severity: 'sever' is not one of: degraded, down
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml


@dataclass(frozen=True, slots=True)
class ConfigError:
    """One problem in a config file, located to the character."""

    file: str
    line: int  # 1-based
    column: int  # 1-based
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.field}: {self.message}"


class ConfigInvalidError(ValueError):
    """Raised when a config file has problems; ``errors`` lists every one found."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


Keys = dict[str, tuple[yaml.Node, yaml.Node]]


class NodeReader:
    """Typed accessors over YAML nodes that record errors and return safe defaults."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.errors: list[ConfigError] = []

    def error(self, node: yaml.Node | None, where: str, message: str) -> None:
        line = node.start_mark.line + 1 if node is not None else 1
        column = node.start_mark.column + 1 if node is not None else 1
        self.errors.append(ConfigError(self.file, line, column, where or "(top)", message))

    def compose(self, text: str) -> yaml.Node | None:
        """The document's root node, or None (with an error) when it is not valid YAML."""
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            detail = f"{exc.problem or ''} {exc.context or ''}".strip() or "invalid YAML"
            self.errors.append(ConfigError(self.file, line, col, "(yaml)", detail))
            return None
        except yaml.YAMLError as exc:
            self.errors.append(ConfigError(self.file, 1, 1, "(yaml)", str(exc)))
            return None
        if root is None:
            self.errors.append(ConfigError(self.file, 1, 1, "(top)", "file is empty"))
        return root

    def mapping(self, node: yaml.Node, where: str, allowed: set[str]) -> Keys | None:
        """Keys of a mapping node; unknown keys are errors (a typo must not go unnoticed)."""
        if not isinstance(node, yaml.MappingNode):
            self.error(node, where, "must be a mapping")
            return None
        out: Keys = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            name = f"{where}.{key}" if where else str(key)
            if not isinstance(key, str):
                self.error(key_node, where, "keys must be plain strings")
            elif key in out:
                self.error(key_node, name, "duplicate key")
            elif key not in allowed:
                self.error(key_node, name, f"unknown key (allowed: {', '.join(sorted(allowed))})")
            else:
                out[key] = (key_node, value_node)
        return out

    def require(self, node: yaml.Node, keys: Keys, where: str, *names: str) -> bool:
        """Record an error for every missing key; True when none is missing."""
        missing = [name for name in names if name not in keys]
        for name in missing:
            self.error(node, f"{where}.{name}" if where else name, "is required")
        return not missing

    def sequence(self, node: yaml.Node, where: str) -> Iterator[tuple[str, yaml.Node]]:
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, where, "must be a list")
            return
        for index, item in enumerate(node.value):
            yield f"{where}[{index}]", item

    def value(self, node: yaml.Node, where: str) -> Any:
        try:
            return yaml.SafeLoader("").construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self.error(node, where, f"cannot read value: {exc}")
            return None

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
