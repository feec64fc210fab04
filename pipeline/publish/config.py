"""The publication config: verifier credentials, the public policy and outbound links.

One small YAML file (``continuity serve-status --publish-config``); every problem is named
by its field path::

    version: 1
    verifiers:
      - id: osce-monitoring
        token_sha256: <64 hex>     # sha256 of the verifier's bearer token, never the token
    public:
      min_group_services: 3        # a sector x region cell needs this many services ...
      min_group_operators: 2       # ... from this many operators to be published
      delay_s: 0                   # the public sees the state as it was this long ago
    links:
      notices_feed: https://example.org/notices.atom
      transparency_log: https://example.org/log/
    transparency:                  # the status page shows the log's size, head and witnesses
      api_url: http://127.0.0.1:8470   # where `continuity ledger serve` listens
      timeout_s: 2
      trusted_witnesses: []        # witness key ids (or prefixes) to count; empty = all

>>> cfg = parse_publish_config({"version": 1, "public": {"delay_s": 600}})
>>> cfg.policy.delay_s, cfg.policy.min_group_services, cfg.verifiers
(600.0, 3, ())
>>> parse_publish_config({"version": 1, "transparency": {"api_url": "x"}})
Traceback (most recent call last):
...
pipeline.publish.config.PublishConfigError: transparency.api_url: must be an http(s) URL ...
>>> parse_publish_config({"version": 1, "verifiers": [{"id": "v"}]})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
pipeline.publish.config.PublishConfigError: verifiers[0].token_sha256: is required (sha256 ...
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_HOW_TO_HASH = (
    "sha256 of the verifier's token: python3 -c 'import hashlib,sys; "
    "print(hashlib.sha256(sys.argv[1].encode()).hexdigest())' TOKEN"
)


class PublishConfigError(ValueError):
    """A bad publication config; the message starts with the field path."""


@dataclass(frozen=True, slots=True)
class PublicPolicy:
    """What the public view may show: cells big enough to hide any one operator, late."""

    min_group_services: int = 3
    min_group_operators: int = 2
    delay_s: float = 0.0


@dataclass(frozen=True, slots=True)
class VerifierCredential:
    verifier_id: str
    token_sha256: str


@dataclass(frozen=True, slots=True)
class RecordSourceConfig:
    """Where the transparency log's HTTP API is read for the page's verifiable-record panel."""

    api_url: str
    timeout_s: float = 2.0
    trusted_witnesses: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PublishConfig:
    verifiers: tuple[VerifierCredential, ...] = ()
    policy: PublicPolicy = field(default_factory=PublicPolicy)
    notices_feed: str | None = None
    transparency_log: str | None = None
    record_source: RecordSourceConfig | None = None


def load_publish_config(path: str | Path) -> PublishConfig:
    """Read and check the YAML file; raises :class:`PublishConfigError` naming the field."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PublishConfigError(f"{path}: cannot read: {exc}") from exc
    try:
        return parse_publish_config(data)
    except PublishConfigError as exc:
        raise PublishConfigError(f"{path}: {exc}") from exc


def parse_publish_config(data: Any) -> PublishConfig:
    """The config from already parsed YAML."""
    top = _mapping(data, "(top)", {"version", "verifiers", "public", "links", "transparency"})
    if top.get("version") != 1:
        raise PublishConfigError("version: must be 1")
    verifiers: list[VerifierCredential] = []
    seen: set[str] = set()
    raw_verifiers = top.get("verifiers") or []
    if not isinstance(raw_verifiers, list):
        raise PublishConfigError("verifiers: must be a list")
    for index, item in enumerate(raw_verifiers):
        where = f"verifiers[{index}]"
        entry = _mapping(item, where, {"id", "name", "token_sha256"})
        verifier_id = entry.get("id")
        if not isinstance(verifier_id, str) or not _ID.match(verifier_id):
            raise PublishConfigError(f"{where}.id: must be an id like 'osce-monitoring'")
        digest = entry.get("token_sha256")
        if digest is None:
            raise PublishConfigError(f"{where}.token_sha256: is required ({_HOW_TO_HASH})")
        if not isinstance(digest, str) or not _SHA256.match(digest):
            raise PublishConfigError(
                f"{where}.token_sha256: must be 64 lower-case hex digits ({_HOW_TO_HASH}); "
                "quote it in YAML"
            )
        if digest in seen:
            raise PublishConfigError(f"{where}.token_sha256: the same token is listed twice")
        seen.add(digest)
        verifiers.append(VerifierCredential(verifier_id, digest))
    public = _mapping(
        top.get("public") or {}, "public", {"min_group_services", "min_group_operators", "delay_s"}
    )
    policy = PublicPolicy(
        min_group_services=_whole(public, "min_group_services", 3, minimum=1),
        min_group_operators=_whole(public, "min_group_operators", 2, minimum=1),
        delay_s=float(_number(public, "delay_s", 0.0)),
    )
    links = _mapping(top.get("links") or {}, "links", {"notices_feed", "transparency_log"})
    for name, value in links.items():
        if not isinstance(value, str) or not value.startswith(("https://", "http://", "/")):
            raise PublishConfigError(f"links.{name}: must be an http(s) URL or a path")
    return PublishConfig(
        tuple(verifiers),
        policy,
        links.get("notices_feed"),
        links.get("transparency_log"),
        _record_source(top.get("transparency")),
    )


def _record_source(value: Any) -> RecordSourceConfig | None:
    if value is None:
        return None
    section = _mapping(value, "transparency", {"api_url", "timeout_s", "trusted_witnesses"})
    url = section.get("api_url")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise PublishConfigError(
            "transparency.api_url: must be an http(s) URL of `continuity ledger serve`"
        )
    timeout = section.get("timeout_s", 2.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise PublishConfigError("transparency.timeout_s: must be a number of seconds > 0")
    trusted = section.get("trusted_witnesses") or []
    if not isinstance(trusted, list) or not all(
        isinstance(t, str) and re.fullmatch(r"[0-9a-f]{8,64}", t) for t in trusted
    ):
        raise PublishConfigError(
            "transparency.trusted_witnesses: must be a list of witness key ids (hex, at least "
            "8 digits; `continuity ledger verify` and the log's /ledger/v1/witnesses show them)"
        )
    return RecordSourceConfig(url.rstrip("/"), float(timeout), tuple(trusted))


def _mapping(value: Any, where: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PublishConfigError(f"{where}: must be a mapping")
    for key in value:
        if key not in allowed:
            raise PublishConfigError(
                f"{where}.{key}: unknown key (allowed: {', '.join(sorted(allowed))})"
            )
    return value


def _number(section: dict[str, Any], name: str, default: float) -> float:
    value = section.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise PublishConfigError(f"public.{name}: must be a number >= 0")
    return float(value)


def _whole(section: dict[str, Any], name: str, default: int, *, minimum: int) -> int:
    value = section.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise PublishConfigError(f"public.{name}: must be a whole number >= {minimum}")
    return value
