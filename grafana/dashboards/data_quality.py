"""*Data quality & freshness*: is the pipeline keeping up, and what did it refuse?

An on-call view in *processing* time (when the pipeline saw a record):
``pipeline_freshness_status`` (lag per layer and stream), ``quarantine_events``
(refused records and why), ``late_events`` (kept, but after their window),
``dq_rule_metrics`` (each rule's pass/fail counts per block of records, read with
``FINAL``; its ``minute`` is when a block's row was last written).

Consumer lag in records is not in ClickHouse: with ``--group`` the Kafka
source commits its offsets to the consumer group, so the broker's own
tooling (``kafka-consumer-groups --describe``, a lag exporter, Event Hubs'
metrics) reports it. This dashboard shows the same signal in time: how far
the newest event of each layer trails its ingest, and how long since each
layer was last written.
"""

from __future__ import annotations

from typing import Any

from dataflows.tables import TABLES
from grafana.dashboards.common import dashboard, row, to_json
from grafana.panels import NEUTRAL, big_number, gauges, higher_is_better, lower_is_better, rows, time_series

UID = "scout-data-quality"
#: A layer is STALE after this many seconds without a write (the view's own threshold, 0006_freshness.sql).
STALE_AFTER_S = 300
#: The time range the data itself covers (the preview and the checks show it).
DATA_RANGE_SQL = "SELECT min(minute), max(minute) + INTERVAL 1 MINUTE FROM dq_rule_metrics"
_QUARANTINED = "SELECT count() FROM quarantine_events FINAL WHERE $__timeFilter(quarantined_at)"
_ACCEPTED = " + ".join(
    f"(SELECT count() FROM {name} FINAL WHERE $__timeFilter(ingested_at))"
    for name, table in TABLES.items()
    if table.layer == "bronze"
)
#: Distinct records quarantined over distinct records read (quarantined + bronze, each read with FINAL),
#: by the time they were last processed: exact after a resume or a replay, which process records again
#: (``dq_rule_metrics`` counts evaluations per rule, and a record can break several rules).
QUARANTINE_RATE_SQL = f"SELECT ({_QUARANTINED}) / nullIf(({_QUARANTINED}) + {_ACCEPTED}, 0) AS quarantine_rate"


def build() -> dict[str, Any]:
    d = (
        dashboard(
            UID, "Scout · Data quality & freshness", "Freshness per layer, quarantine, late events, rule pass rates"
        )
        .with_row(row("Freshness"))
        .with_panel(
            big_number(
                "Quarantine rate",
                "Records quarantined over records read (quarantined + accepted, each record once). "
                "Orange from 1 %, red from 5 %.",
                QUARANTINE_RATE_SQL,
                "percentunit",
                lower_is_better(0.01, 0.05),
            )
        )
        .with_panel(
            big_number(
                "Stale layers",
                f"Layer/stream pairs not written for more than {STALE_AFTER_S} s. Red from one.",
                "SELECT countIf(status != 'HEALTHY') AS stale FROM pipeline_freshness_status",
                "short",
                lower_is_better(0.5, 1),
            )
        )
        .with_panel(
            big_number(
                "Late events",
                "Events kept in bronze (marked late) and in late_events because their window had closed.",
                "SELECT count() AS late FROM late_events FINAL WHERE $__timeFilter(detected_at)",
                "short",
                [(None, NEUTRAL)],
            )
        )
        .with_panel(
            big_number(
                "Rules passing",
                "Share of rule evaluations that passed. Red below 95 %, orange below 99 %.",
                "SELECT sum(passed) / nullIf(sum(passed + failed), 0) AS pass_rate FROM dq_rule_metrics FINAL "
                "WHERE $__timeFilter(minute)",
                "percentunit",
                higher_is_better(0.99, 0.95),
            )
        )
        .with_panel(
            gauges(
                "Seconds since last write, per layer and stream",
                f"Time since each layer/stream was last written (wall clock). STALE after {STALE_AFTER_S} s.",
                "SELECT concat(layer, ' / ', stream) AS layer_stream, since_ingest_s FROM pipeline_freshness_status "
                "ORDER BY layer, stream",
                "s",
                lower_is_better(STALE_AFTER_S / 2, STALE_AFTER_S),
            )
        )
        .with_panel(
            rows(
                "Freshness per layer and stream",
                "Newest event and ingest time per layer and stream, the event lag behind ingest (a replay of "
                "old data shows a large lag), and the status.",
                "SELECT layer, stream, newest_event, newest_ingest, round(lag_ms / 1000, 1) AS lag_s, "
                "since_ingest_s, status FROM pipeline_freshness_status "
                "ORDER BY status = 'HEALTHY', layer, stream",
                width=12,
            )
        )
        .with_row(row("Refused and late records"))
        .with_panel(
            time_series(
                "Quarantined records by rule",
                "Records quarantined per interval, by the rule that refused them.",
                "SELECT $__timeInterval(quarantined_at) AS time, rule, count() AS records "
                "FROM quarantine_events FINAL ARRAY JOIN rules AS rule WHERE $__timeFilter(quarantined_at) "
                "GROUP BY time, rule ORDER BY time",
                "short",
            )
        )
        .with_panel(
            time_series(
                "Late events by stream",
                "Events that arrived after their window closed, per interval and stream.",
                "SELECT $__timeInterval(detected_at) AS time, stream, count() AS events "
                "FROM late_events FINAL WHERE $__timeFilter(detected_at) GROUP BY time, stream ORDER BY time",
                "short",
            )
        )
        .with_panel(
            rows(
                "Quarantine reasons",
                "Each rule that refused records: how many, the newest, and one example reason.",
                "SELECT rule, count() AS records, max(quarantined_at) AS newest, any(topic) AS example_topic, "
                "any(reason) AS example_reason FROM quarantine_events FINAL "
                "ARRAY JOIN rules AS rule, reasons AS reason WHERE $__timeFilter(quarantined_at) "
                "GROUP BY rule ORDER BY records DESC",
                width=12,
            )
        )
        .with_panel(
            rows(
                "Rule pass rates",
                "Per stream and rule: evaluations passed and failed, and the pass rate (red below 95 %).",
                "SELECT stream, rule, action, sum(passed) AS passes, sum(failed) AS failures, "
                "round(sum(passed) / nullIf(sum(passed + failed), 0), 4) AS pass_rate FROM dq_rule_metrics FINAL "
                "WHERE $__timeFilter(minute) GROUP BY stream, rule, action ORDER BY pass_rate, stream, rule",
                width=12,
            )
        )
    )
    return to_json(d)
