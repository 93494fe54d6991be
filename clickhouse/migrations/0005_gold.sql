-- Gold: event-time tumbling windows. The dataflow writes the complete current
-- row of a window whenever it changes; ReplacingMergeTree(updated_at) keyed by
-- the window keeps the newest, so a replay replaces rather than adds.
-- Read with FINAL (dashboards do).
CREATE TABLE IF NOT EXISTS gold_store_interaction_metrics
(
    store_id             LowCardinality(String),
    window_start         DateTime64(3, 'UTC'),
    window_end           DateTime64(3, 'UTC'),
    interactions         UInt32,
    avg_dwell_s          Float64,
    p90_dwell_s          Float64,
    greeted_interactions UInt32,
    greeted_rate         Float64,
    speech_interactions  UInt32,
    speech_rate          Float64,
    brand_mentions       Map(String, UInt32),
    avg_sentiment        Float64,
    active_devices       UInt16,
    updated_at           DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
PARTITION BY toYYYYMM(window_start)
ORDER BY (store_id, window_start)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS gold_device_health_summary
(
    device_id           LowCardinality(String),
    window_start        DateTime64(3, 'UTC'),
    window_end          DateTime64(3, 'UTC'),
    store_id            LowCardinality(String),
    heartbeats_received UInt32,
    heartbeats_expected UInt32,
    uptime_pct          Float64,
    cpu_pct_avg         Float64,
    cpu_pct_max         Float64,
    mem_pct_max         Float64,
    cpu_temp_max        Nullable(Float64),
    disk_free_min_mb    Float64,
    outbox_depth_max    Int64,
    model_versions      Map(String, String),
    sw_version          LowCardinality(String),
    last_seen           Nullable(DateTime64(3, 'UTC')),
    status              LowCardinality(String),
    updated_at          DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
PARTITION BY toYYYYMM(window_start)
ORDER BY (device_id, window_start)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS gold_transcript_sentiment_analysis
(
    store_id      LowCardinality(String),
    window_start  DateTime64(3, 'UTC'),
    window_end    DateTime64(3, 'UTC'),
    utterances    UInt32,
    positive      UInt32,
    neutral       UInt32,
    negative      UInt32,
    avg_sentiment Float64,
    language_mix  Map(String, UInt32),
    updated_at    DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
PARTITION BY toYYYYMM(window_start)
ORDER BY (store_id, window_start)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS gold_brand_performance
(
    store_id     LowCardinality(String),
    day          Date,
    brand        LowCardinality(String),
    window_start DateTime64(3, 'UTC'),
    window_end   DateTime64(3, 'UTC'),
    mentions     UInt32,
    sightings    UInt32,
    interactions UInt32,
    updated_at   DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
PARTITION BY toYYYYMM(day)
ORDER BY (store_id, day, brand)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS gold_insight_feedback
(
    store_id        LowCardinality(String),
    day             Date,
    insight_type    LowCardinality(String),
    window_start    DateTime64(3, 'UTC'),
    window_end      DateTime64(3, 'UTC'),
    accepted        UInt32,
    dismissed       UInt32,
    snoozed         UInt32,
    acceptance_rate Float64,
    updated_at      DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
PARTITION BY toYYYYMM(day)
ORDER BY (store_id, day, insight_type)
SETTINGS non_replicated_deduplication_window = 1000;
