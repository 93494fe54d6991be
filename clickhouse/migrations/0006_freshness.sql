-- Freshness per layer and stream. Each sink write adds one row; the
-- SimpleAggregateFunction columns merge to the newest values, in any order.
CREATE TABLE IF NOT EXISTS pipeline_freshness
(
    layer            LowCardinality(String),
    stream           LowCardinality(String),
    newest_event_ts  SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    newest_ingest_ts SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    rows_written     SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
ORDER BY (layer, stream);

-- What dashboards and alerts read: lag of the newest event behind ingest, and
-- behind the wall clock, with a status (STALE after 5 minutes without news).
CREATE VIEW IF NOT EXISTS pipeline_freshness_status AS
SELECT
    layer,
    stream,
    newest_event,
    newest_ingest,
    rows,
    dateDiff('millisecond', newest_event, newest_ingest) AS lag_ms,
    dateDiff('second', newest_ingest, now64(3))          AS since_ingest_s,
    if(since_ingest_s <= 300, 'HEALTHY', 'STALE')        AS status
FROM
(
    SELECT layer, stream,
           max(newest_event_ts) AS newest_event,
           max(newest_ingest_ts) AS newest_ingest,
           sum(rows_written) AS rows
    FROM pipeline_freshness
    GROUP BY layer, stream
);
