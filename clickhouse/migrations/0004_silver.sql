-- Silver: the speech/vision join (one row per closed session), per-member
-- tags, and validated heartbeats. Keys are deterministic (interaction_id is a
-- hash of device, start and first event), so a replay replaces rows.
CREATE TABLE IF NOT EXISTS silver_multimodal_aligned
(
    interaction_id   String,
    store_id         LowCardinality(String),
    device_id        LowCardinality(String),
    started_at       DateTime64(3, 'UTC'),
    ended_at         DateTime64(3, 'UTC'),
    duration_ms      Int64,
    n_utterances     UInt32,
    n_frames         UInt32,
    max_people       UInt16,
    n_words          UInt32,
    transcript       String,
    brands_mentioned Array(LowCardinality(String)),
    brands_seen      Array(LowCardinality(String)),
    greeted          Bool,
    asked            Bool,
    sentiment        Float64,
    has_speech       Bool,
    has_vision       Bool,
    processed_at     DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(processed_at)
PARTITION BY toYYYYMM(started_at)
ORDER BY (store_id, device_id, started_at, interaction_id)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS silver_annotated_events
(
    interaction_id String,
    event_id       String,
    store_id       LowCardinality(String),
    device_id      LowCardinality(String),
    ts             DateTime64(3, 'UTC'),
    kind           LowCardinality(String),
    greeting       Bool,
    question       Bool,
    brands         Array(LowCardinality(String)),
    people         UInt16,
    sentiment      Float64,
    lang           LowCardinality(String),
    n_words        UInt32,
    processed_at   DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(processed_at)
PARTITION BY toYYYYMM(ts)
ORDER BY (store_id, device_id, ts, event_id)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS silver_device_heartbeat
(
    event_id     String,
    device_id    LowCardinality(String),
    store_id     LowCardinality(String),
    ts           DateTime64(3, 'UTC'),
    cpu_pct      Float64,
    mem_pct      Float64,
    cpu_temp_c   Nullable(Float64),
    disk_free_mb Float64,
    outbox_depth Int64,
    interval_s   Float64,
    models       Map(String, String),
    sw_version   LowCardinality(String),
    status       LowCardinality(String),
    processed_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(processed_at)
PARTITION BY toYYYYMM(ts)
ORDER BY (store_id, device_id, ts, event_id)
SETTINGS non_replicated_deduplication_window = 1000;
