-- Rejected records (quality rules with action `drop`), keyed by their source
-- coordinates so a replay of the same records does not add rows.
CREATE TABLE IF NOT EXISTS quarantine_events
(
    topic          LowCardinality(String),
    partition      Int32,
    offset         Int64,
    record_ts      DateTime64(3, 'UTC'),
    key            String,
    stream         LowCardinality(String),
    schema         LowCardinality(String),
    event_id       String,
    device_id      String,
    store_id       String,
    rules          Array(LowCardinality(String)),
    reasons        Array(String),
    payload        String,
    quarantined_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(quarantined_at)
PARTITION BY toYYYYMM(record_ts)
ORDER BY (topic, partition, offset)
SETTINGS non_replicated_deduplication_window = 1000;

-- Records that arrived after their window had closed (older than the key's
-- watermark), or whose gold window was already evicted. Never silently dropped.
CREATE TABLE IF NOT EXISTS late_events
(
    topic       LowCardinality(String),
    partition   Int32,
    offset      Int64,
    record_ts   DateTime64(3, 'UTC'),
    key         String,
    stream      LowCardinality(String),
    event_id    String,
    device_id   String,
    store_id    String,
    ts          DateTime64(3, 'UTC'),
    watermark   DateTime64(3, 'UTC'),
    reason      LowCardinality(String),
    payload     String,
    detected_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(detected_at)
PARTITION BY toYYYYMM(record_ts)
ORDER BY (topic, partition, offset, event_id, reason)
SETTINGS non_replicated_deduplication_window = 1000;

-- Per-rule evaluation counts per minute of pipeline (processing) time.
-- An operational metric: a replay evaluates the records again and counts
-- them again (in the minutes of the replay), as a pipeline counter would.
CREATE TABLE IF NOT EXISTS dq_rule_metrics
(
    minute DateTime64(3, 'UTC'),
    stream LowCardinality(String),
    rule   LowCardinality(String),
    action LowCardinality(String),
    passed UInt64,
    failed UInt64
)
ENGINE = SummingMergeTree((passed, failed))
ORDER BY (minute, stream, rule, action)
SETTINGS non_replicated_deduplication_window = 1000;
