"""The notifier's panels: notices delivered and failed by channel, latency, queue depth.

A row of the pipeline-health dashboard: a notice that was never delivered is as much a
pipeline failure as a dropped observation. ``continuity notify`` exports the metrics on its
``--http-port`` (``/metrics``; docs/notices.md).

>>> [panel.title for panel in NOTICE_PANELS][:2]
['Notice deliveries per second, by channel and result', 'Notices failed (1 h)']
"""

from __future__ import annotations

from dataclasses import dataclass

from grafana_foundation_sdk.builders import stat, timeseries

from pipeline.dashboards.common import COUNT_THRESHOLDS, Board, promql, thresholds

#: Delivery results that mean a subscriber was not told (retries are not failures yet).
FAILED_RESULTS = "failed|dead_letter|queue_full"


@dataclass(frozen=True, slots=True)
class NoticePanel:
    title: str
    queries: tuple[tuple[str, str], ...]  # (PromQL, legend)
    unit: str
    kind: str
    description: str


NOTICE_PANELS: tuple[NoticePanel, ...] = (
    NoticePanel(
        "Notice deliveries per second, by channel and result",
        (
            (
                "sum by (channel, result) (rate(continuity_notice_deliveries_total[5m]))",
                "{{channel}} {{result}}",
            ),
        ),
        "ops",
        "timeseries",
        "Delivery attempts per channel type: delivered, retry, failed, dead_letter (given up "
        "after max_attempts) and queue_full (the subscriber's queue overflowed).",
    ),
    NoticePanel(
        "Notices failed (1 h)",
        (
            (
                "sum by (channel) (increase(continuity_notice_deliveries_total"
                f'{{result=~"{FAILED_RESULTS}"}}[1h]))'
                " or sum by (channel) (increase(continuity_notice_deliveries_total[1h])) * 0",
                "{{channel}}",
            ),
        ),
        "none",
        "stat",
        "Notices a subscriber did not get in the last hour, per channel (0 when every "
        "delivery succeeded); each is in the notices topic with its reason.",
    ),
    NoticePanel(
        "Evidence to notice latency p50 / p99, by channel",
        (
            (
                "histogram_quantile(0.99, sum by (channel, le) "
                "(rate(continuity_notice_latency_seconds_bucket[5m])))",
                "{{channel}} p99",
            ),
            (
                "histogram_quantile(0.5, sum by (channel, le) "
                "(rate(continuity_notice_latency_seconds_bucket[5m])))",
                "{{channel}} p50",
            ),
        ),
        "s",
        "timeseries",
        "From the event time of a notice's newest transition to its delivery: how late "
        "subscribers learn of an outage.",
    ),
    NoticePanel(
        "Notices queued, by subscriber",
        (("sum by (subscriber) (continuity_notice_queued)", "{{subscriber}}"),),
        "none",
        "timeseries",
        "Notices waiting for delivery per subscriber; a line that keeps growing is a "
        "subscriber whose endpoint is down or too slow.",
    ),
)


def add_notice_row(board: Board) -> Board:
    """Add the notifier's row to ``board``."""
    board.row("Notices (continuity notify)")
    for panel in NOTICE_PANELS:
        built = (stat.Panel() if panel.kind == "stat" else timeseries.Panel()).title(panel.title)
        for ref, (query, legend) in zip("ABCD", panel.queries, strict=False):
            built = built.with_target(promql(query, legend).ref_id(ref))
        if panel.kind == "stat":
            built = built.thresholds(thresholds(*COUNT_THRESHOLDS))
        board.add(built, unit=panel.unit, description=panel.description, width=8)
    return board
