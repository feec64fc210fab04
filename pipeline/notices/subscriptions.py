"""Who wants which notices, how, and how often: the subscriptions file as the domain model.

```yaml
version: 1
defaults: {group_wait_s: 0.5, group_interval_s: 5, repeat_interval_s: 14400,
           rate_limit: {max_notices: 20, per_s: 600}}
subscribers:
  - id: cert-ua
    scope: {sectors: [energy], regions: [UA]}     # UA covers UA-30 (prefix match)
    min_severity: down
    channels:
      - {type: webhook, url: "https://cert.example/hook", secret: {env: CERT_UA_HOOK_KEY}}
```

Every part parses, validates and defaults itself from YAML nodes, so an error names the file,
line, column and field (see :mod:`pipeline.notices.yamlnodes`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from pipeline.notices.channels.registry import ChannelConfig, parse_channel
from pipeline.notices.secrets import SecretRef, SecretUnavailableError
from pipeline.notices.yamlnodes import ConfigError, ConfigInvalidError, Keys, NodeReader

#: What a subscriber can ask to hear about (``kinds:``).
NOTICE_KINDS: tuple[str, ...] = (
    "incident_opened",
    "incident_updated",
    "incident_acknowledged",
    "incident_restored",
    "concurrent_disruption",
    "kpi_anomaly",
    "feed_silent",
)
_FOLLOW_UP_KINDS = frozenset({"incident_updated", "incident_acknowledged", "incident_restored"})
#: Incident severities in increasing order (``min_severity:``).
SEVERITIES: tuple[str, ...] = ("degraded", "down")
GROUP_BY: tuple[str, ...] = ("operator_id", "region", "sector", "service_id")

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_REGION = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")
_SECTOR = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


@dataclass(frozen=True)
class Scope:
    """Which services a subscriber watches; an empty list means "any".

    >>> Scope(regions=("UA",)).matches("energy", "UA-30", "op", "svc")
    True
    >>> Scope(regions=("UA-30",)).matches("energy", "UA-3", "op", "svc")
    False
    """

    sectors: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    operators: tuple[str, ...] = ()
    services: tuple[str, ...] = ()

    def matches(self, sector: str, region: str, operator_id: str, service_id: str) -> bool:
        return (
            (not self.sectors or sector in self.sectors)
            and (not self.regions or any(region_within(region, r) for r in self.regions))
            and (not self.operators or operator_id in self.operators)
            and (not self.services or service_id in self.services)
        )

    @classmethod
    def parse(cls, reader: NodeReader, node: yaml.Node, where: str) -> Scope:
        keys = reader.mapping(node, where, {"sectors", "regions", "operators", "services"})
        if keys is None:
            return cls()

        def texts(key: str, pattern: re.Pattern[str], hint: str) -> tuple[str, ...]:
            return (
                reader.texts(keys[key][1], f"{where}.{key}", pattern, hint=hint)
                if key in keys
                else ()
            )

        return cls(
            sectors=texts("sectors", _SECTOR, "a lower-case sector name"),
            regions=texts("regions", _REGION, "ISO 3166-1 alpha-2, optionally -subdivision"),
            operators=texts("operators", _ID, "an operator id"),
            services=texts("services", re.compile(r"^\S+$"), "a service id"),
        )


def region_within(region: str, scope: str) -> bool:
    """``UA`` covers ``UA`` and ``UA-30``; ``UA-30`` covers only itself (no partial codes)."""
    return region == scope or region.startswith(scope + "-")


@dataclass(frozen=True)
class RateLimit:
    """At most ``max_notices`` per ``per_s`` seconds; the excess is summarised in one notice."""

    max_notices: int = 20
    per_s: float = 600.0

    @classmethod
    def parse(cls, reader: NodeReader, node: yaml.Node, where: str, base: RateLimit) -> RateLimit:
        keys = reader.mapping(node, where, {"max_notices", "per_s"})
        if keys is None:
            return base
        return cls(
            reader.integer(keys["max_notices"][1], f"{where}.max_notices")
            if "max_notices" in keys
            else base.max_notices,
            reader.number(keys["per_s"][1], f"{where}.per_s") if "per_s" in keys else base.per_s,
        )


@dataclass(frozen=True)
class Timing:
    """Grouping and reminders, after Alertmanager's group_wait / group_interval / repeat.

    The first notice of a group waits ``group_wait_s`` for siblings (0.5 s keeps it within
    about a second of detection); later changes to the group wait ``group_interval_s`` after
    the group's previous notice; open incidents are recalled every ``repeat_interval_s``
    (0 = never).
    """

    group_wait_s: float = 0.5
    group_interval_s: float = 5.0
    repeat_interval_s: float = 14_400.0
    rate_limit: RateLimit = field(default_factory=RateLimit)

    KEYS = frozenset({"group_wait_s", "group_interval_s", "repeat_interval_s", "rate_limit"})

    @classmethod
    def parse(cls, reader: NodeReader, keys: Keys, where: str, base: Timing) -> Timing:
        def seconds(key: str, default: float) -> float:
            if key not in keys:
                return default
            return reader.number(keys[key][1], f"{where}.{key}".lstrip("."), exclusive=False)

        rate = base.rate_limit
        if "rate_limit" in keys:
            rate = RateLimit.parse(reader, keys["rate_limit"][1], f"{where}.rate_limit", rate)
        return cls(
            seconds("group_wait_s", base.group_wait_s),
            seconds("group_interval_s", base.group_interval_s),
            seconds("repeat_interval_s", base.repeat_interval_s),
            rate,
        )


@dataclass(frozen=True)
class Subscriber:
    """One subscriber: scope, filters, timing and the channels notices go out on."""

    subscriber_id: str
    channels: tuple[ChannelConfig, ...]
    name: str = ""
    scope: Scope = field(default_factory=Scope)
    min_severity: str = "degraded"
    kinds: tuple[str, ...] = NOTICE_KINDS
    include_maintenance: bool = False
    group_by: tuple[str, ...] = ("operator_id",)
    timing: Timing = field(default_factory=Timing)

    KEYS = frozenset(
        {"id", "name", "scope", "min_severity", "kinds", "include_maintenance", "group_by",
         "channels"}
    ) | Timing.KEYS  # fmt: skip

    def severity_ok(self, severity: str) -> bool:
        """``unknown`` (silence) counts as ``degraded``; anything unrecognised as ``down``."""
        rank = {"degraded": 0, "unknown": 0, "down": 1}.get(severity, 1)
        return rank >= SEVERITIES.index(self.min_severity)

    def channel(self, name: str) -> ChannelConfig | None:
        return next((c for c in self.channels if c.delivery.name == name), None)

    @classmethod
    def parse(
        cls, reader: NodeReader, node: yaml.Node, where: str, base: Path, timing: Timing
    ) -> Subscriber | None:
        keys = reader.mapping(node, where, set(cls.KEYS))
        if keys is None or not reader.require(node, keys, where, "id", "channels"):
            return None
        subscriber_id = reader.text(keys["id"][1], f"{where}.id", _ID, "letters, digits, . _ -")
        channels: list[ChannelConfig] = []
        for c_where, c_node in reader.sequence(keys["channels"][1], f"{where}.channels"):
            channel = parse_channel(reader, c_node, c_where, base)
            if channel is not None:
                channels.append(channel)
        names = [c.delivery.name for c in channels]
        for duplicate in sorted({n for n in names if names.count(n) > 1}):
            reader.error(
                keys["channels"][1],
                f"{where}.channels",
                f"two channels are called {duplicate!r}; give each a distinct name:",
            )
        if (
            not keys["channels"][1].value
            if isinstance(keys["channels"][1], yaml.SequenceNode)
            else False
        ):
            reader.error(keys["channels"][1], f"{where}.channels", "must list at least one channel")

        def get(key: str) -> yaml.Node | None:
            return keys[key][1] if key in keys else None

        kinds = NOTICE_KINDS
        if (kinds_node := get("kinds")) is not None:
            kinds = reader.texts(kinds_node, f"{where}.kinds", options=NOTICE_KINDS)
            follow_ups = [k for k in kinds if k in _FOLLOW_UP_KINDS]
            if follow_ups and not {"incident_opened", "feed_silent"} & set(kinds):
                reader.error(
                    kinds_node,
                    f"{where}.kinds",
                    f"{', '.join(follow_ups)} follow an opening this subscriber was told of; "
                    "add incident_opened or feed_silent",
                )
        group_by: tuple[str, ...] = cls.group_by
        if (group_node := get("group_by")) is not None:
            group_by = reader.texts(group_node, f"{where}.group_by", options=GROUP_BY)
        return cls(
            subscriber_id=subscriber_id,
            channels=tuple(channels),
            name=reader.text(n, f"{where}.name") if (n := get("name")) is not None else "",
            scope=Scope.parse(reader, s, f"{where}.scope") if (s := get("scope")) else Scope(),
            min_severity=reader.choice(m, f"{where}.min_severity", SEVERITIES)
            if (m := get("min_severity")) is not None
            else cls.min_severity,
            kinds=kinds,
            include_maintenance=reader.flag(i, f"{where}.include_maintenance")
            if (i := get("include_maintenance")) is not None
            else False,
            group_by=group_by,
            timing=Timing.parse(reader, keys, where, timing),
        )


@dataclass(frozen=True)
class Subscriptions:
    """Every subscriber of one deployment, by id."""

    subscribers: tuple[Subscriber, ...]
    path: Path | None = None

    def get(self, subscriber_id: str) -> Subscriber | None:
        return next((s for s in self.subscribers if s.subscriber_id == subscriber_id), None)

    def secrets(self) -> list[tuple[str, SecretRef]]:
        """Every secret the file names, with the field it is named in."""
        out: list[tuple[str, SecretRef]] = []
        for sub in self.subscribers:
            for channel in sub.channels:
                for attr in ("secret", "password"):
                    ref = getattr(channel, attr, None)
                    if isinstance(ref, SecretRef):
                        out.append((f"{sub.subscriber_id}.{channel.delivery.name}.{attr}", ref))
        return out

    def missing_secrets(self, env: Mapping[str, str] | None = None) -> list[str]:
        """Secrets that cannot be read now, described without their values."""
        missing = []
        for where, ref in self.secrets():
            try:
                ref.resolve(env)
            except SecretUnavailableError as exc:
                missing.append(f"{where}: {exc}")
        return missing

    def with_subscribers(self, subscribers: tuple[Subscriber, ...]) -> Subscriptions:
        return replace(self, subscribers=subscribers)


_TOP_KEYS = {"version", "defaults", "subscribers"}


def parse_subscriptions(
    text: str, file: str = "<subscriptions>", base: Path | None = None
) -> tuple[Subscriptions | None, list[ConfigError]]:
    """The subscriptions in ``text`` and every problem found (config is None if any)."""
    reader = NodeReader(file)
    base = base if base is not None else Path(file).parent
    root = reader.compose(text)
    if root is None:
        return None, reader.errors
    top = reader.mapping(root, "", _TOP_KEYS)
    if top is None:
        return None, reader.errors
    if "version" not in top:
        reader.error(root, "version", "is required (version: 1)")
    elif reader.value(top["version"][1], "version") != 1:
        reader.error(top["version"][1], "version", "only version 1 is supported")
    timing = Timing()
    if "defaults" in top:
        defaults = reader.mapping(top["defaults"][1], "defaults", set(Timing.KEYS))
        if defaults is not None:
            timing = Timing.parse(reader, defaults, "defaults", timing)
    subscribers: list[Subscriber] = []
    if reader.require(root, top, "", "subscribers"):
        seen: set[str] = set()
        for where, node in reader.sequence(top["subscribers"][1], "subscribers"):
            sub = Subscriber.parse(reader, node, where, base, timing)
            if sub is None:
                continue
            if sub.subscriber_id in seen:
                reader.error(
                    node, f"{where}.id", f"subscriber {sub.subscriber_id!r} declared twice"
                )
            seen.add(sub.subscriber_id)
            subscribers.append(sub)
    if reader.errors:
        return None, reader.errors
    return Subscriptions(tuple(subscribers), Path(file)), []


def validate_subscriptions(path: str | Path) -> list[ConfigError]:
    """Every problem in the file (empty when it is valid)."""
    return _read(Path(path))[1]


def load_subscriptions(path: str | Path) -> Subscriptions:
    """The parsed file; raises :class:`ConfigInvalidError` listing every problem."""
    subs, errors = _read(Path(path))
    if errors or subs is None:
        raise ConfigInvalidError(errors)
    return subs


def _read(path: Path) -> tuple[Subscriptions | None, list[ConfigError]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [ConfigError(str(path), 1, 1, "(file)", str(exc))]
    return parse_subscriptions(text, str(path), path.parent)
