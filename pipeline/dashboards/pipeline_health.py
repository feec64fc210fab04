"""Feeds and pipeline health: can the numbers on the other dashboards be trusted right now?

Every ``continuity_feed_*`` metric, the workers' throughput and lag, dead letters by reason,
sink errors, the notifier's deliveries, and the verifiable record.

>>> feed = [p for p in build().model()["panels"] if "continuity_feed_" in str(p)]
>>> len(feed) >= 12
True
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import stat, table, timeseries

from pipeline.dashboards.common import (
    COUNT_THRESHOLDS,
    Board,
    organize,
    prom_filter,
    promql,
    table_query,
    thresholds,
)
from pipeline.dashboards.notice_panels import add_notice_row
from pipeline.dashboards.record_panels import add_record_row

UID = "continuity-pipeline"
_OPERATOR = 'operator=~"$operator"'

#: (title, PromQL, legend, unit, description) of the connector (feed) metrics.
_FEEDS: tuple[tuple[str, str, str, str, str], ...] = (
    (
        "Observations parsed per second, by feed",
        "sum by (feed) (rate(continuity_feed_observations_parsed_total[5m]))",
        "{{feed}}",
        "ops",
        "Observations each feed's parser produced.",
    ),
    (
        "Observations sent per second, by feed",
        "sum by (feed) (rate(continuity_feed_observations_sent_total[5m]))",
        "{{feed}}",
        "ops",
        "Observations Kafka durably acknowledged, per feed.",
    ),
    (
        "Feed rejects per second, by feed and reason",
        "sum by (feed, reason) (rate(continuity_feed_rejects_total[5m]))",
        "{{feed}} {{reason}}",
        "ops",
        "Inputs refused and sent to the dead-letter topic, with the reason.",
    ),
    (
        "Skipped inputs per second, by feed and reason",
        "sum by (feed, reason) (rate(continuity_feed_skipped_total[5m]))",
        "{{feed}} {{reason}}",
        "ops",
        "Valid inputs deliberately not turned into evidence (retained messages, ...).",
    ),
    (
        "Feed lag",
        "max by (feed) (continuity_feed_lag_seconds)",
        "{{feed}}",
        "s",
        "Clock minus the newest observed_at of each feed's last poll.",
    ),
    (
        "Seconds since each feed's last good poll",
        "time() - max by (feed) (continuity_feed_last_success_timestamp_seconds)",
        "{{feed}}",
        "s",
        "A growing line is a silent feed: its services' outages would go unseen.",
    ),
    (
        "Silence reports per hour, by feed",
        "sum by (feed) (increase(continuity_feed_silence_reports_total[1h]))",
        "{{feed}}",
        "none",
        "Unknown-status observations emitted because a feed stayed silent past its "
        "services' expected interval.",
    ),
    (
        "Spooled records",
        "sum(continuity_feed_spool_records)",
        "spooled",
        "none",
        "Records waiting in the connectors' on-disk spool while Kafka is unreachable.",
    ),
    (
        "Spool overflow per hour",
        "sum(increase(continuity_feed_spool_overflow_total[1h]))",
        "refused",
        "none",
        "Records refused because the spool was full (evidence lost).",
    ),
    (
        "Push ingest requests per second, by operator and HTTP status",
        f"sum by (operator, status) (rate(continuity_feed_push_requests_total{{{_OPERATOR}}}[5m]))",
        "{{operator}} {{status}}",
        "reqps",
        "Requests to the push ingest endpoint by operator and HTTP status.",
    ),
    (
        "Push ingest rejects per second, by operator and reason",
        f"sum by (operator, reason) (rate(continuity_feed_push_rejects_total{{{_OPERATOR}}}[5m]))",
        "{{operator}} {{reason}}",
        "ops",
        "Pushed observations refused (bad token, schema, rate limit, unknown service, ...).",
    ),
    (
        "Push ingest observations accepted per second, by operator",
        f"sum by (operator) (rate(continuity_feed_push_observations_total{{{_OPERATOR}}}[5m]))",
        "{{operator}}",
        "ops",
        "Pushed observations durably accepted.",
    ),
)


def build() -> Board:
    board = Board(
        UID,
        "Continuity Watch: feeds and pipeline health",
        "Connector feeds, worker throughput and lag, dead letters and sink errors.",
    )
    board.row("Feeds (connectors)")
    for title, expr, legend, unit, description in _FEEDS:
        board.add(
            timeseries.Panel().title(title).with_target(promql(expr, legend)),
            unit=unit,
            description=description,
            width=8,
        )
    board.row("Workers")
    board.add(
        timeseries.Panel()
        .title("Observations per second, by sector and outcome")
        .with_target(
            promql(
                "sum by (sector, outcome) "
                '(rate(continuity_observations_total{sector=~"$sector"}[5m]))',
                "{{sector}} {{outcome}}",
            )
        ),
        unit="ops",
        description="Worker throughput: applied, duplicate, late and stale observations.",
        width=8,
    )
    board.add(
        timeseries.Panel()
        .title("Event lag p50 / p99 (consumer lag in time)")
        .with_target(
            promql(
                "histogram_quantile(0.99, sum by (le) "
                "(rate(continuity_event_lag_seconds_bucket[5m])))",
                "p99",
            )
        )
        .with_target(
            promql(
                "histogram_quantile(0.5, sum by (le) "
                "(rate(continuity_event_lag_seconds_bucket[5m])))",
                "p50",
            ).ref_id("B")
        ),
        unit="s",
        description="Processing time minus event time of applied observations: how far the "
        "workers run behind the evidence (Kafka offset lag in time).",
        width=8,
    )
    board.add(
        timeseries.Panel()
        .title("Consumer lag in records, by topic and partition")
        .with_target(
            promql(
                'max by (topic, partition) (continuity_partition_offset{kind="end"})'
                ' - max by (topic, partition) (continuity_partition_offset{kind="processed"})',
                "{{topic}}/{{partition}}",
            )
        )
        .with_target(
            promql(
                'max by (topic, partition) (continuity_partition_offset{kind="end"})'
                ' - max by (topic, partition) (continuity_partition_offset{kind="committed"})',
                "{{topic}}/{{partition}} uncommitted",
            ).ref_id("B")
        ),
        unit="none",
        description="Records each partition's worker has not processed yet (end - processed), "
        "and not committed yet; a partition that stays high while others drain is stalled "
        "(its /healthz answers 503).",
        width=8,
    )
    board.add(
        timeseries.Panel()
        .title("Dead letters per second, by source and reason")
        .with_target(
            promql(
                "sum by (source, reason) ("
                'label_replace(rate(continuity_observations_rejected_total[5m]), "source", '
                '"worker", "", "") or label_replace(rate(continuity_feed_rejects_total[5m]), '
                '"source", "connector", "", ""))',
                "{{source}} {{reason}}",
            )
        ),
        unit="ops",
        description="Records sent to the dead-letter topic with the reason: by the workers "
        "(malformed, unauthorised, ...) and by the connectors (stale, unparseable, fetch "
        "failed, ...).",
        width=8,
    )
    board.add(
        timeseries.Panel()
        .title("Sink points per second, by result")
        .with_target(
            promql(
                "sum by (sink, result) (rate(continuity_sink_points_total[5m]))",
                "{{sink}} {{result}}",
            )
        ),
        unit="ops",
        description="Points handed to the InfluxDB sink: written, retried (sink errors) and "
        "dropped (buffer full; the facts stay in Kafka for replay).",
        width=8,
    )
    board.add(
        stat.Panel()
        .title("Sink errors (retried, dropped or refused, 1 h)")
        .with_target(
            promql(
                "sum(increase(continuity_sink_points_total"
                '{result=~"retried|dropped|rejected"}[1h]))'
                " or sum(increase(continuity_sink_points_total[1h])) * 0",
            )
        )
        .thresholds(thresholds(*COUNT_THRESHOLDS)),
        unit="none",
        description="Points the InfluxDB sink had to retry or drop in the last hour (0 when "
        "every write succeeded the first time).",
        width=8,
    )
    board.add(
        timeseries.Panel()
        .title("Sink buffer and services tracked")
        .with_target(promql("sum by (sink) (continuity_sink_buffered_points)", "{{sink}} buffered"))
        .with_target(promql("sum(continuity_services_tracked)", "services tracked").ref_id("B")),
        unit="none",
        description="Points waiting for the next InfluxDB write, and how many services the "
        "workers hold state for.",
        width=8,
    )
    board.add(
        timeseries.Panel()
        .title("Status changes per second, by reason")
        .with_target(
            promql(
                "sum by (status, reason) "
                '(rate(continuity_status_changes_total{sector=~"$sector"}[5m]))',
                "{{status}} ({{reason}})",
            )
        ),
        unit="ops",
        description="Status transitions caused by evidence or by silence.",
        width=8,
    )
    board.add(
        timeseries.Panel()
        .title("Periodic check errors per hour")
        .with_target(promql("sum(increase(continuity_check_errors_total[1h]))", "check errors")),
        unit="none",
        description="Services whose periodic silence/maintenance check failed (logged with "
        "the service id).",
        width=8,
    )
    board.add(
        table.Panel()
        .title("Newest evidence per region (seconds ago)")
        .with_target(
            table_query(
                "time() - max by (region) "
                f"(continuity_service_last_evidence_timestamp_seconds{{{prom_filter()}}})"
            )
        )
        .with_transformation(organize(("Time",)))
        .thresholds(thresholds((None, "green"), (120.0, "orange"), (300.0, "red"))),
        unit="s",
        description="How fresh the newest evidence of each region is: a whole region going "
        "quiet points at the pipeline or the region's connectivity, not one operator.",
        width=8,
    )
    return add_record_row(add_notice_row(board))
