"""The verifiable incident record's panels: log size, head age, witnesses, refusals.

They sit in their own row of the pipeline-health dashboard: whether the record is growing and
witnessed is part of whether the numbers can be trusted. ``continuity ledger serve`` and
``continuity ledger witness`` export the metrics (docs/ledger.md).

>>> [panel.title for panel in RECORD_PANELS][:2]
['Log size', 'Seconds since the last signed tree head']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from grafana_foundation_sdk.builders import bargauge, stat, timeseries

from pipeline.dashboards.common import COUNT_THRESHOLDS, Board, promql, thresholds


@dataclass(frozen=True, slots=True)
class RecordPanel:
    title: str
    query: str
    unit: str
    kind: str
    description: str


RECORD_PANELS: tuple[RecordPanel, ...] = (
    RecordPanel(
        "Log size",
        "max(continuity_ledger_tree_size_entries)",
        "none",
        "stat",
        "Entries in the transparency log of incident transitions, findings and roll-ups.",
    ),
    RecordPanel(
        "Seconds since the last signed tree head",
        "time() - max(continuity_ledger_head_timestamp_seconds)",
        "s",
        "stat",
        "The log re-signs at least every --head-max-age; a growing age means it stopped.",
    ),
    RecordPanel(
        "Witnesses co-signing the latest head",
        "max(continuity_ledger_head_cosignatures)",
        "none",
        "stat",
        "Independent witnesses that checked the latest head against the history they saw.",
    ),
    RecordPanel(
        "Entries each witness lags behind the log",
        "scalar(max(continuity_ledger_tree_size_entries))"
        " - max by (witness) (continuity_ledger_witness_cosigned_size_entries)",
        "none",
        "bargauge",
        "0 when a witness has co-signed the log at its current size.",
    ),
    RecordPanel(
        "Heads refused by witnesses (1 h)",
        'sum(increase(continuity_witness_checks_total{result=~"inconsistent|bad_signature"}[1h]))'
        " or vector(0)",
        "none",
        "stat",
        "Any refusal is evidence of a split view or a rewritten history: investigate.",
    ),
    RecordPanel(
        "Entries appended per second",
        "sum(rate(continuity_ledger_entries_appended_total[5m]))",
        "ops",
        "timeseries",
        "Incident transitions, findings and roll-ups appended to the log.",
    ),
)

#: Panel builders by kind (the SDK's builders share no typed base with ``title``).
_KINDS: dict[str, Any] = {
    "stat": stat.Panel,
    "bargauge": bargauge.Panel,
    "timeseries": timeseries.Panel,
}


def add_record_row(board: Board) -> Board:
    """Add the record's row to ``board``."""
    board.row("Verifiable incident record")
    for panel in RECORD_PANELS:
        built = _KINDS[panel.kind]().title(panel.title).with_target(promql(panel.query))
        if panel.title.startswith("Heads refused"):
            built = built.thresholds(thresholds(*COUNT_THRESHOLDS))
        board.add(built, unit=panel.unit, description=panel.description, width=8)
    return board
