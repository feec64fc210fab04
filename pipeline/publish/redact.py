"""Strip internal hostnames, IP addresses, URLs and credentials from text, by rule.

Each match becomes a keyed pseudonym (``[host:3f9a…]``): the same value always maps to the
same token under one key, so a verifier can still tell two services apart, but cannot
recover the address (the key never leaves the server, so even IPv4's small space cannot be
brute-forced from the token).

>>> scrub("probe http://10.0.3.7:8080/metadata?token=abc failed", b"k")  # doctest: +ELLIPSIS
'probe [url:...] failed'
>>> scrub("grid.ua-30.feeder-12", b"k")
'grid.ua-30.feeder-12'
>>> scrub("scada01.plant.internal unreachable from 192.168.1.20", b"k").count("[")
2
>>> scrub("password=hunter2 user=ops", b"k")  # doctest: +ELLIPSIS
'[credential:...] user=ops'
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Callable
from typing import Any

_INTERNAL_TLDS = "local|localdomain|lan|internal|intranet|corp|home|private|arpa|test|example"
_COMMON_TLDS = "com|net|org|io|gov|mil|edu|int|info|biz|cloud|dev|app|site|online|tech"
# Order matters: URLs first (they contain hosts and credentials), then credentials, IPs, hosts.
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>]+")
_USERINFO = re.compile(r"\b[^\s:@/]+:[^\s@/]+@[A-Za-z0-9.-]+")
_CREDENTIAL = re.compile(
    r"(?i)\b(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|auth|credentials?)"
    r"\s*[=:]\s*[^\s,;&]+|\bbearer\s+[A-Za-z0-9._~+/=-]+"
)
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?(?![\w.])")
_IPV6_CANDIDATE = re.compile(r"(?<![\w:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])")
_HOST = re.compile(
    r"(?i)(?<![\w.-])(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+"
    rf"(?:{_INTERNAL_TLDS}|{_COMMON_TLDS}|[a-z]{{2}})(?::\d{{1,5}})?(?![\w-]|\.[a-z0-9])"
    r"|(?<![\w.-])localhost(?::\d{1,5})?(?![\w-])"
)

RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("url", _URL),
    ("credential", _USERINFO),
    ("credential", _CREDENTIAL),
    ("ip", _IPV4),
    ("ip", _IPV6_CANDIDATE),
    ("host", _HOST),
)


def pseudonym(kind: str, value: str, key: bytes) -> str:
    """A stable keyed token for ``value`` (10 hex digits of HMAC-SHA256)."""
    digest = hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:10]
    return f"[{kind}:{digest}]"


def scrub(text: str, key: bytes) -> str:
    """``text`` with every sensitive match replaced by its pseudonym."""
    out = text
    for kind, pattern in RULES:
        out = pattern.sub(_replacer(kind, key), out)
    return out


def _replacer(kind: str, key: bytes) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        value = match.group(0)
        if value.startswith("[") or _inside_token(match):
            return value
        if kind == "ip" and ":" in value and "." not in value and not _is_ipv6(value):
            return value
        return pseudonym(kind, value, key)

    return replace


def _inside_token(match: re.Match[str]) -> bool:
    """Already replaced text (``[url:abc]``) is left alone by later rules."""
    before = match.string[: match.start()]
    return before.rfind("[") > before.rfind("]")


def _is_ipv6(value: str) -> bool:
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


def scrub_tree(value: Any, key: bytes) -> Any:
    """:func:`scrub` applied to every string inside dicts and lists (keys are kept)."""
    if isinstance(value, str):
        return scrub(value, key)
    if isinstance(value, dict):
        return {k: scrub_tree(v, key) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_tree(v, key) for v in value]
    return value
