"""Feed silence as evidence: a feed that stops delivering is itself a fact about its services.

A feed is *silent* when, for longer than ``silent_after_s``, it has delivered no usable result:
every poll failed as a whole (fetch failed, malformed feed: a dead letter and no observation)
or nothing arrived at all (a quiet MQTT subscription).  ``silent_after_s`` is the longest
``expected_interval_s`` among the services the feed reports on, and at least one poll interval
plus its timeout.  When a feed turns silent, :class:`SilenceWatch` emits one ``status_report``
*unknown* per service the feed reports on (its ``service`` and every ``map`` target), with
``attrs.reason = "feed_silent"``, how long it has been silent and the last problem seen.

Once per silence episode: the worker's own silence rules take over from there (an *unknown*
report repeated every interval would keep refreshing the service's evidence and stop the
worker from escalating a long silence).  The next usable result re-arms the watch.

The result is marked ``ParseResult.silence`` so feed metrics count it in
``continuity_feed_silence_reports_total`` and do not mistake it for the feed being alive.

>>> from connectors.config import FeedConfig
>>> svc = ServiceSpec("op", "grid.f12", "energy", "UA-30", 60.0)
>>> feed = FeedConfig("scada", "op", "feeder_status", 30.0, service="grid.f12", timeout_s=5.0)
>>> ticks = [0.0]
>>> watch = SilenceWatch(feed, {"grid.f12": svc}, clock=lambda: 1_700_000_000.0,
...                      monotonic=lambda: ticks[0])
>>> watch.silent_after_s, watch.check()
(60.0, None)
>>> ticks[0] = 61.0
>>> [(o.service_id, o.status.value) for o in watch.check().observations]
[('grid.f12', 'unknown')]
>>> watch.check() is None  # once per episode
True
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from connectors.base import Clock, FeedContext, ParseResult, ServiceSpec
from connectors.config import FeedConfig
from pipeline.core.schema import Kind, Status


class SilenceWatch:
    """Tracks one feed's last usable result; :meth:`check` says when silence is evidence."""

    def __init__(
        self,
        feed: FeedConfig,
        services: Mapping[str, ServiceSpec],
        clock: Clock = time.time,
        monotonic: Clock = time.monotonic,
    ) -> None:
        ids = ([feed.service] if feed.service else []) + list(feed.mapping.values())
        self.feed = feed
        self.targets = [services[sid] for sid in dict.fromkeys(ids)]
        self.silent_after_s = max(
            [feed.interval_s + feed.timeout_s, *(s.expected_interval_s for s in self.targets)]
        )
        self.clock = clock
        self.monotonic = monotonic
        self.episodes = 0
        self.last_problem: str | None = None
        self._alive_at = monotonic()  # start-up counts: a feed gets one full period
        self._reported = False

    def record(self, result: ParseResult) -> None:
        """Note one result the feed delivered (a whole-feed reject is not a sign of life)."""
        if result.silence:
            return
        if result.observations or not result.rejections:
            self._alive_at = self.monotonic()
            self._reported = False
            self.last_problem = None
        else:
            first = result.rejections[0]
            self.last_problem = f"{first.reason}: {first.detail}"[:200]

    def check(self) -> ParseResult | None:
        """The *unknown* evidence, once, when the feed has just turned silent; else None."""
        silent_for = self.monotonic() - self._alive_at
        if self._reported or silent_for < self.silent_after_s or not self.targets:
            return None
        self._reported = True
        self.episodes += 1
        ctx = FeedContext(source=self.feed.feed_id, now=self.clock())
        attrs: dict[str, object] = {
            "reason": "feed_silent",
            "silent_for_s": round(silent_for, 3),
            "silent_after_s": self.silent_after_s,
        }
        if self.last_problem:
            attrs["last_problem"] = self.last_problem
        result = ParseResult(silence=True)
        for service in self.targets:
            result.add(
                ctx.observe(
                    service,
                    kind=Kind.STATUS_REPORT,
                    observed_at=ctx.now,
                    status=Status.UNKNOWN,
                    attrs=dict(attrs),
                    id_parts=("feed_silent", self.episodes, round(silent_for, 3)),
                )
            )
        return result
