-- Bronze: every accepted, on-time event as received (payload kept verbatim),
-- plus where it came from. ReplacingMergeTree keyed by the event: a replay or
-- a retried insert of the same event_id collapses to one row; read with FINAL.
-- non_replicated_deduplication_window lets the sink retry a failed insert
-- with the same insert_deduplication_token without duplicating the block.
CREATE TABLE IF NOT EXISTS bronze_stt_raw
(
    event_id         String,
    device_id        LowCardinality(String),
    store_id         LowCardinality(String),
    ts               DateTime64(3, 'UTC'),
    schema           LowCardinality(String),
    duration_ms      UInt32,
    transcript       String,
    confidence       Float32,
    lang             LowCardinality(String),
    engine           LowCardinality(String),
    model_version    LowCardinality(String),
    n_words_reported Nullable(UInt32),
    audio_url        Nullable(String),
    warnings         Array(LowCardinality(String)),
    payload          String,
    topic            LowCardinality(String),
    partition        Int32,
    offset           Int64,
    record_ts        DateTime64(3, 'UTC'),
    ingested_at      DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(ts)
ORDER BY (store_id, device_id, ts, event_id)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS bronze_visual_stream
(
    event_id      String,
    device_id     LowCardinality(String),
    store_id      LowCardinality(String),
    ts            DateTime64(3, 'UTC'),
    schema        LowCardinality(String),
    frame_id      Int64,
    width         UInt32,
    height        UInt32,
    model_version LowCardinality(String),
    labels        Array(LowCardinality(String)),
    warnings      Array(LowCardinality(String)),
    payload       String,
    topic         LowCardinality(String),
    partition     Int32,
    offset        Int64,
    record_ts     DateTime64(3, 'UTC'),
    ingested_at   DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(ts)
ORDER BY (store_id, device_id, ts, event_id)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS bronze_device_heartbeat
(
    event_id      String,
    device_id     LowCardinality(String),
    store_id      LowCardinality(String),
    ts            DateTime64(3, 'UTC'),
    schema        LowCardinality(String),
    uptime_s      Float64,
    cpu_pct       Float64,
    mem_pct       Float64,
    cpu_temp_c    Nullable(Float64),
    disk_free_mb  Float64,
    outbox_depth  Int64,
    models        Map(String, String),
    sw_version    LowCardinality(String),
    interval_s    Float64,
    warnings      Array(LowCardinality(String)),
    payload       String,
    topic         LowCardinality(String),
    partition     Int32,
    offset        Int64,
    record_ts     DateTime64(3, 'UTC'),
    ingested_at   DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(ts)
ORDER BY (store_id, device_id, ts, event_id)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS bronze_insight_feedback
(
    event_id      String,
    device_id     LowCardinality(String),
    store_id      LowCardinality(String),
    ts            DateTime64(3, 'UTC'),
    schema        LowCardinality(String),
    insight_id    String,
    advisor_id    String,
    insight_type  LowCardinality(String),
    action        LowCardinality(String),
    comment       Nullable(String),
    warnings      Array(LowCardinality(String)),
    payload       String,
    topic         LowCardinality(String),
    partition     Int32,
    offset        Int64,
    record_ts     DateTime64(3, 'UTC'),
    ingested_at   DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(ts)
ORDER BY (store_id, ts, event_id)
SETTINGS non_replicated_deduplication_window = 1000;
