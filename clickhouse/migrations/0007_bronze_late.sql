-- apply: once
-- Bronze keeps late events (SPEC §3 "every accepted event"): a `late` column marks an
-- event that arrived after its key's watermark (it is also logged in late_events and
-- counts in no streamed window). The tables' version becomes `version`: 0 for a late
-- row, the ingest time for an on-time one — so a late copy of an event (a retry after
-- an outage) never replaces its on-time row, and an on-time row written later (a
-- `scout replay --from-bronze` that reconciles late data) replaces a late one.
-- ReplacingMergeTree's version column is fixed at creation: each table is rebuilt
-- (new table, copy, atomic EXCHANGE, drop). Applied once (the `apply: once` line).

DROP TABLE IF EXISTS bronze_stt_raw__0007;
CREATE TABLE bronze_stt_raw__0007
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
    ingested_at      DateTime64(3, 'UTC'),
    late          Bool DEFAULT false,
    version       UInt64 DEFAULT if(late, 0, toUInt64(toUnixTimestamp64Milli(ingested_at)))
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(ts)
ORDER BY (store_id, device_id, ts, event_id)
SETTINGS non_replicated_deduplication_window = 1000;
INSERT INTO bronze_stt_raw__0007 (event_id, device_id, store_id, ts, schema, duration_ms, transcript, confidence, lang, engine, model_version, n_words_reported, audio_url, warnings, payload, topic, partition, offset, record_ts, ingested_at)
SELECT event_id, device_id, store_id, ts, schema, duration_ms, transcript, confidence, lang, engine, model_version, n_words_reported, audio_url, warnings, payload, topic, partition, offset, record_ts, ingested_at FROM bronze_stt_raw;
EXCHANGE TABLES bronze_stt_raw AND bronze_stt_raw__0007;
DROP TABLE bronze_stt_raw__0007;

DROP TABLE IF EXISTS bronze_visual_stream__0007;
CREATE TABLE bronze_visual_stream__0007
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
    ingested_at   DateTime64(3, 'UTC'),
    late          Bool DEFAULT false,
    version       UInt64 DEFAULT if(late, 0, toUInt64(toUnixTimestamp64Milli(ingested_at)))
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(ts)
ORDER BY (store_id, device_id, ts, event_id)
SETTINGS non_replicated_deduplication_window = 1000;
INSERT INTO bronze_visual_stream__0007 (event_id, device_id, store_id, ts, schema, frame_id, width, height, model_version, labels, warnings, payload, topic, partition, offset, record_ts, ingested_at)
SELECT event_id, device_id, store_id, ts, schema, frame_id, width, height, model_version, labels, warnings, payload, topic, partition, offset, record_ts, ingested_at FROM bronze_visual_stream;
EXCHANGE TABLES bronze_visual_stream AND bronze_visual_stream__0007;
DROP TABLE bronze_visual_stream__0007;

DROP TABLE IF EXISTS bronze_device_heartbeat__0007;
CREATE TABLE bronze_device_heartbeat__0007
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
    ingested_at   DateTime64(3, 'UTC'),
    late          Bool DEFAULT false,
    version       UInt64 DEFAULT if(late, 0, toUInt64(toUnixTimestamp64Milli(ingested_at)))
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(ts)
ORDER BY (store_id, device_id, ts, event_id)
SETTINGS non_replicated_deduplication_window = 1000;
INSERT INTO bronze_device_heartbeat__0007 (event_id, device_id, store_id, ts, schema, uptime_s, cpu_pct, mem_pct, cpu_temp_c, disk_free_mb, outbox_depth, models, sw_version, interval_s, warnings, payload, topic, partition, offset, record_ts, ingested_at)
SELECT event_id, device_id, store_id, ts, schema, uptime_s, cpu_pct, mem_pct, cpu_temp_c, disk_free_mb, outbox_depth, models, sw_version, interval_s, warnings, payload, topic, partition, offset, record_ts, ingested_at FROM bronze_device_heartbeat;
EXCHANGE TABLES bronze_device_heartbeat AND bronze_device_heartbeat__0007;
DROP TABLE bronze_device_heartbeat__0007;

DROP TABLE IF EXISTS bronze_insight_feedback__0007;
CREATE TABLE bronze_insight_feedback__0007
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
    ingested_at   DateTime64(3, 'UTC'),
    late          Bool DEFAULT false,
    version       UInt64 DEFAULT if(late, 0, toUInt64(toUnixTimestamp64Milli(ingested_at)))
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(ts)
ORDER BY (store_id, ts, event_id)
SETTINGS non_replicated_deduplication_window = 1000;
INSERT INTO bronze_insight_feedback__0007 (event_id, device_id, store_id, ts, schema, insight_id, advisor_id, insight_type, action, comment, warnings, payload, topic, partition, offset, record_ts, ingested_at)
SELECT event_id, device_id, store_id, ts, schema, insight_id, advisor_id, insight_type, action, comment, warnings, payload, topic, partition, offset, record_ts, ingested_at FROM bronze_insight_feedback;
EXCHANGE TABLES bronze_insight_feedback AND bronze_insight_feedback__0007;
DROP TABLE bronze_insight_feedback__0007;
