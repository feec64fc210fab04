"""Ownership: a notifier acts on a subscriber only once its state has been recovered."""

from __future__ import annotations

from pipeline.notices.ownership import Ownership

PARTITION = {"a": 0, "b": 1, "c": 2}


def ownership() -> Ownership:
    return Ownership(PARTITION, PARTITION.__getitem__)


def test_nothing_is_owned_before_the_first_recovered_assignment() -> None:
    own = ownership()
    assert not any(own.owns(s) for s in PARTITION)
    assert own.due(100.0, {}) == []


def test_a_settled_assignment_makes_its_subscribers_due_once_then_by_wakeup() -> None:
    own = ownership()
    own.observe(settled=True, generation=1, partitions={0, 2})
    assert own.due(100.0, {"a": 500.0, "c": 500.0}) == ["a", "c"]  # look at recovered state
    assert own.due(101.0, {"a": 500.0, "c": 500.0}) == []
    assert own.due(501.0, {"a": 500.0, "c": 900.0}) == ["a"]


def test_nothing_is_touched_while_a_rebalance_or_its_recovery_is_in_progress() -> None:
    """The lost "restored": a running notifier newly assigned ``b`` ticked before the table
    recovered ``b``, decided over an empty state and wrote it over the real one."""
    own = ownership()
    own.observe(settled=True, generation=1, partitions={0})
    own.due(100.0, {})
    # Rebalance: faust's assignment already names partition 1, its state is not recovered.
    own.observe(settled=False, generation=2, partitions={0, 1})
    assert [s for s in PARTITION if own.owns(s)] == []
    assert own.due(200.0, {"a": 0.0, "b": 0.0}) == []
    own.observe(settled=True, generation=2, partitions={0, 1})
    assert [s for s in PARTITION if own.owns(s)] == ["a", "b"]
    assert own.due(200.1, {"a": 900.0, "b": 900.0}) == ["a", "b"]  # both looked at afresh


def test_a_subscriber_that_moved_away_is_no_longer_owned() -> None:
    own = ownership()
    own.observe(settled=True, generation=1, partitions={0, 1, 2})
    own.observe(settled=False, generation=1, partitions={0, 1, 2})  # revoke began
    own.observe(settled=True, generation=2, partitions={2})
    assert [s for s in PARTITION if own.owns(s)] == ["c"]
    assert own.due(0.0, {}) == ["c"]


def test_a_whole_rebalance_between_two_looks_is_seen_by_its_generation() -> None:
    own = ownership()
    own.observe(settled=True, generation=1, partitions={0})
    assert own.due(1.0, {"a": 50.0}) == ["a"]
    own.observe(settled=True, generation=3, partitions={0, 1})
    assert own.due(2.0, {"a": 50.0, "b": 50.0}) == ["a", "b"]


def test_settled_only_between_rebalances() -> None:
    own = ownership()
    assert not own.settled
    own.observe(settled=True, generation=1, partitions=set())
    assert own.settled
    own.observe(settled=False, generation=1, partitions=set())
    assert not own.settled
