-- apply: once
-- Effectively-once (#19, item 4): versions and counts that a resume, a replay or a pod whose clock
-- is behind cannot get wrong (docs/architecture.md, "Effectively once").
--
-- 1. Gold tables: ReplacingMergeTree(version) instead of (updated_at). `version` grows with every
--    fact a row takes in (dataflows/gold/windows.py), so the row that has taken in the most facts
--    wins whatever the order rows were written in; `updated_at` stays, as when a row was written.
--    Existing rows (FINAL: one per key) get the same version computed from their own columns.
-- 2. dq_rule_metrics: counts per rule and *block* of records (a source partition's offsets, or a
--    device's evaluations; dataflows/rule_tally.py), cumulative, ReplacingMergeTree(version =
--    passed + failed): a re-emitted epoch rewrites a block's row, it never adds to it. `minute` is
--    now when a block's row was last written. Rows from before (per processing minute, summed)
--    are kept as scope 'before-0009', one block per minute.
-- 3. pipeline_freshness.rows_written is no longer written nor shown by pipeline_freshness_status:
--    it counted writes (a resume or a replay wrote again, a gold window is rewritten on each
--    update). Write volume is the Prometheus counter scout_rows_written_total; row counts are the
--    tables' own (FINAL). The column stays (0006, re-run by every migrate, names it).
-- ReplacingMergeTree's version column is fixed at creation: tables are rebuilt as in 0007.

DROP TABLE IF EXISTS gold_store_interaction_metrics__0009;
CREATE TABLE gold_store_interaction_metrics__0009
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (store_id, window_start)
SETTINGS non_replicated_deduplication_window = 1000
AS SELECT *, toUInt64(interactions + active_devices) AS version FROM gold_store_interaction_metrics FINAL;
EXCHANGE TABLES gold_store_interaction_metrics AND gold_store_interaction_metrics__0009;
DROP TABLE gold_store_interaction_metrics__0009;

DROP TABLE IF EXISTS gold_device_health_summary__0009;
CREATE TABLE gold_device_health_summary__0009
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (device_id, window_start)
SETTINGS non_replicated_deduplication_window = 1000
AS SELECT *, toUInt64(if(heartbeats_received > 0, bitShiftLeft(toUInt64(1), 52) + heartbeats_received, ifNull(toUInt64(toUnixTimestamp64Milli(last_seen)), 0))) AS version FROM gold_device_health_summary FINAL;
EXCHANGE TABLES gold_device_health_summary AND gold_device_health_summary__0009;
DROP TABLE gold_device_health_summary__0009;

DROP TABLE IF EXISTS gold_transcript_sentiment_analysis__0009;
CREATE TABLE gold_transcript_sentiment_analysis__0009
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (store_id, window_start)
SETTINGS non_replicated_deduplication_window = 1000
AS SELECT *, toUInt64(utterances) AS version FROM gold_transcript_sentiment_analysis FINAL;
EXCHANGE TABLES gold_transcript_sentiment_analysis AND gold_transcript_sentiment_analysis__0009;
DROP TABLE gold_transcript_sentiment_analysis__0009;

DROP TABLE IF EXISTS gold_brand_performance__0009;
CREATE TABLE gold_brand_performance__0009
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(day)
ORDER BY (store_id, day, brand)
SETTINGS non_replicated_deduplication_window = 1000
AS SELECT *, toUInt64(mentions + sightings + interactions) AS version FROM gold_brand_performance FINAL;
EXCHANGE TABLES gold_brand_performance AND gold_brand_performance__0009;
DROP TABLE gold_brand_performance__0009;

DROP TABLE IF EXISTS gold_insight_feedback__0009;
CREATE TABLE gold_insight_feedback__0009
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(day)
ORDER BY (store_id, day, insight_type)
SETTINGS non_replicated_deduplication_window = 1000
AS SELECT *, toUInt64(accepted + dismissed + snoozed) AS version FROM gold_insight_feedback FINAL;
EXCHANGE TABLES gold_insight_feedback AND gold_insight_feedback__0009;
DROP TABLE gold_insight_feedback__0009;

DROP TABLE IF EXISTS dq_rule_metrics__0009;
CREATE TABLE dq_rule_metrics__0009
(
    minute  DateTime64(3, 'UTC'),
    stream  LowCardinality(String),
    rule    LowCardinality(String),
    action  LowCardinality(String),
    scope   LowCardinality(String),
    block   UInt64,
    passed  UInt64,
    failed  UInt64,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (stream, rule, action, scope, block)
SETTINGS non_replicated_deduplication_window = 1000;
INSERT INTO dq_rule_metrics__0009
SELECT minute, stream, rule, action, 'before-0009', toUInt64(toUnixTimestamp64Milli(minute)),
       sum(passed), sum(failed), sum(passed) + sum(failed)
FROM dq_rule_metrics
GROUP BY minute, stream, rule, action;
EXCHANGE TABLES dq_rule_metrics AND dq_rule_metrics__0009;
DROP TABLE dq_rule_metrics__0009;

DROP VIEW IF EXISTS pipeline_freshness_status;
CREATE VIEW pipeline_freshness_status AS
SELECT
    layer,
    stream,
    newest_event,
    newest_ingest,
    dateDiff('millisecond', newest_event, newest_ingest) AS lag_ms,
    dateDiff('second', newest_ingest, now64(3))          AS since_ingest_s,
    if(since_ingest_s <= 300, 'HEALTHY', 'STALE')        AS status
FROM
(
    SELECT layer, stream,
           max(newest_event_ts) AS newest_event,
           max(newest_ingest_ts) AS newest_ingest
    FROM pipeline_freshness
    GROUP BY layer, stream
);
