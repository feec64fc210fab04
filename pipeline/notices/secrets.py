"""Secrets named in config (an env var or a file), never their values.

A :class:`SecretRef` says where a secret lives; the value is read only when a channel needs
it and never appears in a repr, a log line, a metric or an error message:

>>> ref = SecretRef("env", "HOOK_KEY")
>>> ref.resolve({"HOOK_KEY": "s3cret"})
's3cret'
>>> "s3cret" in repr(ref)
False
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from pipeline.notices.yamlnodes import NodeReader


class SecretUnavailableError(RuntimeError):
    """The env var is unset or the file cannot be read (the message names which, not the value)."""


@dataclass(frozen=True, slots=True)
class SecretRef:
    """``{env: NAME}`` or ``{file: PATH}`` (a relative path is relative to the config file)."""

    source: str  # "env" | "file"
    name: str

    def __repr__(self) -> str:
        return f"SecretRef({self.source}={self.name!r})"

    def resolve(self, env: Mapping[str, str] | None = None) -> str:
        """The secret's value; raises :class:`SecretUnavailableError` naming the source."""
        if self.source == "env":
            value = (os.environ if env is None else env).get(self.name)
            if not value:
                raise SecretUnavailableError(f"environment variable {self.name} is not set")
            return value
        try:
            return Path(self.name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SecretUnavailableError(
                f"secret file {self.name} cannot be read ({exc.strerror})"
            ) from None

    def describe(self) -> str:
        """Where the secret comes from, for messages (never the value)."""
        return f"env {self.name}" if self.source == "env" else f"file {self.name}"

    @classmethod
    def parse(cls, reader: NodeReader, node: yaml.Node, where: str, base: Path) -> SecretRef | None:
        """Read ``{env: NAME}`` / ``{file: PATH}``; a plain string is refused (no inline secret)."""
        if isinstance(node, yaml.ScalarNode):
            reader.error(
                node,
                where,
                "write {env: VAR_NAME} or {file: path}; secrets are never written inline",
            )
            return None
        keys = reader.mapping(node, where, {"env", "file"})
        if keys is None:
            return None
        if len(keys) != 1:
            reader.error(node, where, "give exactly one of env or file")
            return None
        source, (_key, value) = next(iter(keys.items()))
        name = reader.text(value, f"{where}.{source}")
        if source == "file" and name and not Path(name).is_absolute():
            name = str(base / name)
        return cls(source, name) if name else None
