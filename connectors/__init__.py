"""Operator connectors: native feeds in, canonical observations (and dead letters) out.

The contract lives in :mod:`connectors.base`, the deployment config in
:mod:`connectors.config`, one parser per format in :mod:`connectors.parsers`, and the CLI
group in :mod:`connectors.cli` (``connectors_group``).
"""

from connectors.base import (
    FeedContext,
    FetchInfo,
    ParseResult,
    PollSource,
    PushSource,
    Rejection,
    ServiceSpec,
    SubscribeSource,
    make_event_id,
)

__all__ = [
    "FeedContext",
    "FetchInfo",
    "ParseResult",
    "PollSource",
    "PushSource",
    "Rejection",
    "ServiceSpec",
    "SubscribeSource",
    "make_event_id",
]
