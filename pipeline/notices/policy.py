"""The notice policy: which signals a subscriber hears about, grouped, deduplicated, paced.

Pure and clock-free (``now`` is passed in): the notifier feeds it signals with
:meth:`NoticePolicy.accept`, asks :meth:`NoticePolicy.due` for the notices ready to go, and
stores the :class:`SubscriberState` after each call.

- **Filters**: kinds, scope (region prefix match), minimum severity, maintenance (outages in a
  declared window are skipped unless ``include_maintenance``). Follow-ups (update,
  acknowledgement, restoration) are sent only for subjects whose opening this subscriber
  was told of, so a restoration never arrives without its outage.
- **Grouping** (Alertmanager style): signals of one kind and one ``group_by`` value wait
  ``group_wait_s`` for siblings; later ones wait until ``group_interval_s`` after the
  group's previous notice.
- **Dedup**: a (subject, transition) key is handled once; replayed records are dropped.
- **Reminders** every ``repeat_interval_s`` while a subject stays open.
- **Rate limit**: at most ``max_notices`` per ``per_s``; the rest are held and summarised in
  one notice when the window ends.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.notices.notice import Item, Notice, Reference, notice_id
from pipeline.notices.signals import CLOSING, OPENING, Signal
from pipeline.notices.state import GroupState, OpenSubject, SubscriberState
from pipeline.notices.subscriptions import Subscriber

#: How long handled keys of closed subjects are remembered. Replays come from the last
#: committed offset (seconds to minutes back); a day is ample and keeps each subscriber's
#: stored state (rewritten to the changelog on every change) small.
DEFAULT_RETENTION_S = 86_400.0
#: Pruning walks every remembered key, so it runs at most this often.
PRUNE_EVERY_S = 60.0
#: Items listed in a rate-limit summary (the count covers all of them).
SUMMARY_ITEMS = 50

_FOLLOW_UPS = frozenset({"incident_updated", "incident_acknowledged", "incident_restored"})


@dataclass(frozen=True, slots=True)
class NoticePolicy:
    """The policy of one subscriber."""

    subscriber: Subscriber
    retention_s: float = DEFAULT_RETENTION_S

    # -- intake ---------------------------------------------------------------------------

    def wants(self, state: SubscriberState, signal: Signal) -> bool:
        """Whether this subscriber should hear of ``signal`` (ignoring dedup)."""
        sub = self.subscriber
        if signal.kind not in sub.kinds:
            return False
        if signal.kind in _FOLLOW_UPS:
            return signal.subject_id in state.open or any(
                s.subject_id == signal.subject_id and s.kind in OPENING
                for g in state.groups.values()
                for s in g.pending
            )
        if signal.maintenance and not sub.include_maintenance:
            return False
        return sub.severity_ok(signal.severity) and signal.in_scope(sub.scope)

    def accept(self, state: SubscriberState, signal: Signal, now: float) -> bool:
        """Queue ``signal`` if wanted and new; True when it was queued."""
        if signal.key in state.sent or signal.key in state.pending_keys():
            return False
        if not self.wants(state, signal):
            return False
        timing = self.subscriber.timing
        group_key = self.group_key(signal)
        group = state.groups.setdefault(group_key, GroupState())
        if not group.pending:
            due = now + timing.group_wait_s
            if group.last_sent is not None:
                due = max(due, group.last_sent + timing.group_interval_s)
            group.due = due
        group.pending.append(signal)
        return True

    def group_key(self, signal: Signal) -> str:
        dims = [f"{g}={signal.dimension(g)}" for g in self.subscriber.group_by]
        return "|".join([signal.kind, *dims])

    # -- output ---------------------------------------------------------------------------

    def due(self, state: SubscriberState, now: float) -> list[Notice]:
        """Notices ready at ``now``: due groups, reminders, a summary when a window ended."""
        notices: list[Notice] = []
        summary = self._close_window(state, now)
        if summary is not None:
            notices.append(summary)
        ready = sorted(
            (g.due, key)
            for key, g in state.groups.items()
            if g.pending and g.due is not None and g.due <= now
        )
        for _due, key in ready:
            group = state.groups[key]
            signals, group.pending, group.due = group.pending, [], None
            # A follow-up never overtakes its own opening, still waiting in another group.
            openings = {
                s.subject_id: g.due
                for g in state.groups.values()
                for s in g.pending
                if s.kind in OPENING
            }
            waiting = [s for s in signals if s.kind not in OPENING and s.subject_id in openings]
            if waiting:
                group.pending = waiting
                group.due = max(openings[s.subject_id] or now for s in waiting)
                signals = [s for s in signals if s not in waiting]
                if not signals:
                    continue
            group.last_sent = now
            kind = signals[0].kind
            labels = {g: signals[0].dimension(g) for g in self.subscriber.group_by}
            notice = self._emit(state, kind, signals, labels, now)
            if notice is not None:
                notices.append(notice)
        reminder = self._reminders(state, now)
        if reminder is not None:
            notices.append(reminder)
        self._prune(state, now)
        return notices

    def next_wakeup(self, state: SubscriberState) -> float | None:
        """The next time :meth:`due` may return something (groups, reminders, window)."""
        times = [t for t in (state.next_due(),) if t is not None]
        repeat = self.subscriber.timing.repeat_interval_s
        if repeat > 0:
            times += [o.last_notified + repeat for o in state.open.values()]
        if state.held_count and state.window_start is not None:
            times.append(state.window_start + self.subscriber.timing.rate_limit.per_s)
        return min(times) if times else None

    def _emit(
        self,
        state: SubscriberState,
        kind: str,
        signals: list[Signal],
        group: dict[str, str],
        now: float,
        keys: list[str] | None = None,
    ) -> Notice | None:
        """Build the notice for ``signals`` (or hold them if the rate limit bites)."""
        # A follow-up of an opening that was held goes where the opening went: the summary.
        held_openings = {k for k, o in state.open.items() if o.notice_id is None}
        follow = [s for s in signals if s.kind not in OPENING and s.subject_id in held_openings]
        if follow:
            self._hold(state, follow, now)
            signals = [s for s in signals if s not in follow]
            if not signals:
                return None
        keys = keys if keys is not None else [s.key for s in signals]
        nid = notice_id(self.subscriber.subscriber_id, keys)
        items = tuple(self._item(state, s) for s in signals)
        admitted = self._admit(state, now)
        for signal, key in zip(signals, keys, strict=True):
            state.sent[key] = now
            self._remember(state, signal, nid if admitted else None, now)
        if not admitted:
            self._hold(state, signals, now, remembered=True)
            return None
        return Notice(nid, self.subscriber.subscriber_id, kind, now, items, group)

    def _hold(
        self, state: SubscriberState, signals: list[Signal], now: float, remembered: bool = False
    ) -> None:
        """Keep ``signals`` for the window's summary instead of telling them now."""
        if not remembered:
            for signal in signals:
                state.sent[signal.key] = now
                self._remember(state, signal, None, now)
        state.held.extend(signals[: max(0, SUMMARY_ITEMS - len(state.held))])
        state.held_count += len(signals)

    def _item(self, state: SubscriberState, signal: Signal) -> Item:
        references: tuple[Reference, ...] = ()
        opened = state.open.get(signal.subject_id)
        if signal.kind not in OPENING and opened is not None and opened.notice_id is not None:
            references = (Reference(opened.notice_id, opened.opened_at),)
        return Item(
            signal.key,
            signal.kind,
            signal.subject_id,
            signal.at,
            signal.severity,
            signal.sectors,
            signal.regions,
            signal.operators,
            signal.services,
            signal.maintenance,
            signal.record,
            references,
        )

    def _remember(
        self, state: SubscriberState, signal: Signal, nid: str | None, now: float
    ) -> None:
        if signal.kind in OPENING:
            state.open[signal.subject_id] = OpenSubject(signal, nid, now, now)
        elif signal.kind in CLOSING:
            state.open.pop(signal.subject_id, None)
        elif (subject := state.open.get(signal.subject_id)) is not None:
            subject.signal = signal if signal.kind != "incident_acknowledged" else subject.signal
            subject.last_notified = now

    def _admit(self, state: SubscriberState, now: float) -> bool:
        limit = self.subscriber.timing.rate_limit
        if state.window_start is None or now >= state.window_start + limit.per_s:
            state.window_start, state.window_count = now, 0
        if state.window_count >= limit.max_notices:
            return False
        state.window_count += 1
        return True

    def _close_window(self, state: SubscriberState, now: float) -> Notice | None:
        """The summary of held notices once their window has ended."""
        limit = self.subscriber.timing.rate_limit
        if not state.held_count or state.window_start is None:
            return None
        if now < state.window_start + limit.per_s:
            return None
        held, count = state.held, state.held_count
        state.held, state.held_count = [], 0
        state.window_start, state.window_count = now, 1
        nid = notice_id(self.subscriber.subscriber_id, [f"summary:{s.key}" for s in held])
        items = tuple(self._item(state, s) for s in held)
        return Notice(nid, self.subscriber.subscriber_id, "summary", now, items, {}, count)

    def _reminders(self, state: SubscriberState, now: float) -> Notice | None:
        repeat = self.subscriber.timing.repeat_interval_s
        if repeat <= 0:
            return None
        due = [o for o in state.open.values() if now - o.last_notified >= repeat]
        if not due:
            return None
        signals, keys = [], []
        for subject in sorted(due, key=lambda o: o.opened_at):
            subject.reminders += 1
            signals.append(subject.signal)
            keys.append(f"{subject.signal.subject_id}:reminder:{subject.reminders}")
        notice = self._emit_reminder(state, signals, keys, now)
        for subject in due:
            subject.last_notified = now
        return notice

    def _emit_reminder(
        self, state: SubscriberState, signals: list[Signal], keys: list[str], now: float
    ) -> Notice | None:
        nid = notice_id(self.subscriber.subscriber_id, keys)
        items = tuple(self._item(state, s) for s in signals)
        for key in keys:
            state.sent[key] = now
        if not self._admit(state, now):
            state.held_count += len(signals)
            return None
        return Notice(nid, self.subscriber.subscriber_id, "reminder", now, items, {})

    def _prune(self, state: SubscriberState, now: float) -> None:
        if now - state.pruned_at < PRUNE_EVERY_S:
            return
        state.pruned_at = now
        horizon = now - self.retention_s
        for key, at in list(state.sent.items()):
            if at < horizon and not any(key.startswith(f"{s}:") for s in state.open):
                del state.sent[key]
        interval = self.subscriber.timing.group_interval_s
        for key, group in list(state.groups.items()):
            if not group.pending and (group.last_sent is None or group.last_sent + interval < now):
                del state.groups[key]


def make_test_notice(subscriber: Subscriber, now: float) -> Notice:
    """A notice that says only "this channel works" (``continuity alerts test``)."""
    key = f"test:{subscriber.subscriber_id}:{now:.3f}"
    item = Item(key, "test", "test", now, "degraded", (), (), (), (), False, {})
    return Notice(
        notice_id(subscriber.subscriber_id, [key]), subscriber.subscriber_id, "test", now, (item,)
    )
