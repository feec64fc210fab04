r"""Walking a config file's YAML node tree with every error located to file:line:col.

The plumbing every config loader shares (the connectors' deployment file, the notices'
subscriptions): a :class:`NodeWalker` collects errors instead of raising, so one run reports
every problem in the file, each as a :class:`ConfigError`::

    subs.yaml:7:20: subscribers[0].min_severity: 'sever' is not one of: degraded, down

>>> walker = NodeWalker("x.yaml")
>>> keys = walker.mapping(walker.compose("a: 1\nb: 2\n"), "", {"a"})
>>> sorted(keys or {}), [str(e) for e in walker.errors]
(['a'], ['x.yaml:2:1: b: unknown key (allowed: a)'])
"""

from __future__ import annotations

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
        if self.line == 0:  # about the file as a whole: no position to point at
            return f"{self.file}: {self.message}"
        return f"{self.file}:{self.line}:{self.column}: {self.field}: {self.message}"


class ConfigInvalidError(ValueError):
    """Raised when a config file has problems; ``errors`` lists every one found."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


Keys = dict[str, tuple[yaml.Node, yaml.Node]]


class NodeWalker:
    """Locates errors and walks mappings and lists; typed readers build on it."""

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
