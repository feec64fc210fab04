"""Who is asking: public, a verifier or an operator, decided from the bearer token alone.

Operators authenticate with the token they already use for the push ingest API (the
deployment config keeps its sha256); verifiers with tokens listed the same way in the
publication config. No token means public; a token that matches nothing is refused rather
than quietly downgraded, so a typo is noticed. Nothing else in a request (query parameters,
path, cookies) can change the audience.

>>> import hashlib
>>> creds = Credentials({hashlib.sha256(b"op-secret").hexdigest(): "demo-energy"},
...                     {hashlib.sha256(b"v-secret").hexdigest(): "osce"})
>>> creds.identify(None)
Viewer(audience=<Audience.PUBLIC: 'public'>, principal=None)
>>> creds.identify("Bearer op-secret").principal
'demo-energy'
>>> creds.identify("Bearer v-secret").audience.value
'verifier'
>>> creds.identify("Bearer nope")
Traceback (most recent call last):
...
pipeline.publish.audience.Unauthenticated: the bearer token matches no operator or verifier
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from connectors.config import DeploymentConfig
from pipeline.publish.config import VerifierCredential


class Audience(StrEnum):
    PUBLIC = "public"
    VERIFIER = "verifier"
    OPERATOR = "operator"


@dataclass(frozen=True, slots=True)
class Viewer:
    """An audience and, for operators and verifiers, who exactly."""

    audience: Audience
    principal: str | None = None

    @classmethod
    def public(cls) -> Viewer:
        return cls(Audience.PUBLIC)


PUBLIC = Viewer(Audience.PUBLIC)


class Unauthenticated(Exception):
    """A credential was sent and is not valid (HTTP 401)."""


class Credentials:
    """Token digests of operators and verifiers; the tokens themselves are never held."""

    def __init__(self, operators: Mapping[str, str], verifiers: Mapping[str, str]) -> None:
        shared = set(operators) & set(verifiers)
        if shared:
            raise ValueError("a token is configured both for an operator and for a verifier")
        self._operators = dict(operators)
        self._verifiers = dict(verifiers)

    @classmethod
    def from_configs(
        cls, deployment: DeploymentConfig | None, verifiers: Iterable[VerifierCredential]
    ) -> Credentials:
        operators = (
            {op.token_sha256: op.operator_id for op in deployment.operators} if deployment else {}
        )
        return cls(operators, {v.token_sha256: v.verifier_id for v in verifiers})

    def identify(self, authorization: str | None) -> Viewer:
        """The viewer an ``Authorization`` header value stands for."""
        if authorization is None or not authorization.strip():
            return PUBLIC
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("use Authorization: Bearer <token>")
        # Lookup by digest: the comparison never touches the token itself.
        digest = hashlib.sha256(token.strip().encode("utf-8")).hexdigest()
        if digest in self._operators:
            return Viewer(Audience.OPERATOR, self._operators[digest])
        if digest in self._verifiers:
            return Viewer(Audience.VERIFIER, self._verifiers[digest])
        raise Unauthenticated("the bearer token matches no operator or verifier")
