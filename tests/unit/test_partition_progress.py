"""PartitionProgress: silence is judged as of the time the input is processed to."""

from __future__ import annotations

from pipeline.worker.progress import PartitionProgress


def test_under_steady_load_a_small_backlog_never_stops_the_silence_check() -> None:
    # 100 records/s arrive; the worker processes what arrived up to 0.3 s ago; the end offset
    # is seen once a second. Some records always wait, yet silence can be judged as of the
    # time the input is processed to (round 6: the check was deferred for the whole run).
    now = [0.0]
    progress = PartitionProgress(lambda: now[0], stall_after=30.0, max_backlog=2000, settle=0.5)
    progress.observe("obs", 0, end=0, committed=0)
    for step in range(1, 201):  # 20 s in steps of 0.1 s
        now[0] = step / 10
        processed_to = int(max(0.0, now[0] - 0.3) * 100)
        if processed_to:
            progress.processed("obs", 0, offset=processed_to - 1)
        if step % 10 == 0:
            progress.observe("obs", 0, end=int(now[0] * 100), committed=None)
            assert progress.behind("obs") == set()
    lag = progress.evidence_lag("obs", [0])
    assert lag is not None
    assert 0.5 <= lag <= 2.0


def test_evidence_waiting_holds_the_check_back_and_a_far_behind_partition_is_left_out() -> None:
    now = [100.0]
    progress = PartitionProgress(lambda: now[0], stall_after=30.0, max_backlog=50, settle=0.5)
    progress.observe("obs", 0, end=10, committed=10)  # nothing waiting: complete now
    progress.observe("obs", 1, end=80, committed=0)  # 80 waiting: behind, and not complete
    assert progress.behind("obs") == {1}
    assert progress.evidence_lag("obs", [0]) == 0.5
    assert progress.evidence_lag("obs", [0, 1]) is None
    now[0] = 105.0
    progress.processed("obs", 1, offset=79)
    assert progress.behind("obs") == set()
    assert progress.evidence_lag("obs", [0, 1]) == 5.5  # as of partition 1's end, at 100
    # A partition whose end is not known yet does not hold the others back.
    assert progress.evidence_lag("obs", [0, 7]) == 5.5
