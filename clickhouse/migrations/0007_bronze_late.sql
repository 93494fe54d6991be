-- apply: once
-- Bronze keeps late events (SPEC §3 "every accepted event"): a `late` column marks an
-- event that arrived after its key's watermark (it is also logged in late_events and
-- counts in no streamed window). The tables' version becomes `version`: 0 for a late
-- row, the ingest time for an on-time one — so a late copy of an event (a retry after
-- an outage) never replaces its on-time row, and an on-time row written later (a
-- `scout replay --from-bronze` that reconciles late data) replaces a late one.
-- ReplacingMergeTree's version column is fixed at creation: each table is rebuilt
-- (a new table created from the old one's rows, the two new columns' defaults set,
-- atomic EXCHANGE, drop). Applied once (the `apply: once` line).

DROP TABLE IF EXISTS bronze_stt_raw__0007;
CREATE TABLE bronze_stt_raw__0007
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(ts)
ORDER BY (store_id, device_id, ts, event_id)
SETTINGS non_replicated_deduplication_window = 1000
AS SELECT *, false AS late, toUInt64(toUnixTimestamp64Milli(ingested_at)) AS version FROM bronze_stt_raw;
ALTER TABLE bronze_stt_raw__0007 MODIFY COLUMN late Bool DEFAULT false;
ALTER TABLE bronze_stt_raw__0007 MODIFY COLUMN version UInt64 DEFAULT if(late, 0, toUInt64(toUnixTimestamp64Milli(ingested_at)));
EXCHANGE TABLES bronze_stt_raw AND bronze_stt_raw__0007;
DROP TABLE bronze_stt_raw__0007;

DROP TABLE IF EXISTS bronze_visual_stream__0007;
CREATE TABLE bronze_visual_stream__0007
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(ts)
ORDER BY (store_id, device_id, ts, event_id)
SETTINGS non_replicated_deduplication_window = 1000
AS SELECT *, false AS late, toUInt64(toUnixTimestamp64Milli(ingested_at)) AS version FROM bronze_visual_stream;
ALTER TABLE bronze_visual_stream__0007 MODIFY COLUMN late Bool DEFAULT false;
ALTER TABLE bronze_visual_stream__0007 MODIFY COLUMN version UInt64 DEFAULT if(late, 0, toUInt64(toUnixTimestamp64Milli(ingested_at)));
EXCHANGE TABLES bronze_visual_stream AND bronze_visual_stream__0007;
DROP TABLE bronze_visual_stream__0007;

DROP TABLE IF EXISTS bronze_device_heartbeat__0007;
CREATE TABLE bronze_device_heartbeat__0007
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(ts)
ORDER BY (store_id, device_id, ts, event_id)
SETTINGS non_replicated_deduplication_window = 1000
AS SELECT *, false AS late, toUInt64(toUnixTimestamp64Milli(ingested_at)) AS version FROM bronze_device_heartbeat;
ALTER TABLE bronze_device_heartbeat__0007 MODIFY COLUMN late Bool DEFAULT false;
ALTER TABLE bronze_device_heartbeat__0007 MODIFY COLUMN version UInt64 DEFAULT if(late, 0, toUInt64(toUnixTimestamp64Milli(ingested_at)));
EXCHANGE TABLES bronze_device_heartbeat AND bronze_device_heartbeat__0007;
DROP TABLE bronze_device_heartbeat__0007;

DROP TABLE IF EXISTS bronze_insight_feedback__0007;
CREATE TABLE bronze_insight_feedback__0007
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(ts)
ORDER BY (store_id, ts, event_id)
SETTINGS non_replicated_deduplication_window = 1000
AS SELECT *, false AS late, toUInt64(toUnixTimestamp64Milli(ingested_at)) AS version FROM bronze_insight_feedback;
ALTER TABLE bronze_insight_feedback__0007 MODIFY COLUMN late Bool DEFAULT false;
ALTER TABLE bronze_insight_feedback__0007 MODIFY COLUMN version UInt64 DEFAULT if(late, 0, toUInt64(toUnixTimestamp64Milli(ingested_at)));
EXCHANGE TABLES bronze_insight_feedback AND bronze_insight_feedback__0007;
DROP TABLE bronze_insight_feedback__0007;
