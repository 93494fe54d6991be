"""Column order of every table the dataflow writes (DDL lives in clickhouse/).

Rows travel through the dataflow as plain tuples in these orders, grouped in
a :class:`TableRows` batch; the ClickHouse sink inserts them by name.
Timestamps are integer milliseconds since the epoch (UTC).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from dataflows.bronze.validate import DQ_COLUMNS, QUARANTINE_COLUMNS

#: Where a bronze row came from, and whether it arrived after its key's watermark (``late``:
#: kept in bronze, counted in no streamed window; see clickhouse/migrations/0007).
_COORDS = ("topic", "partition", "offset", "record_ts", "ingested_at", "late")

COLUMNS: dict[str, tuple[str, ...]] = {
    "bronze_stt_raw": (
        "event_id", "device_id", "store_id", "ts", "schema", "duration_ms", "transcript",
        "confidence", "lang", "engine", "model_version", "n_words_reported", "audio_url",
        "warnings", "payload", *_COORDS,
    ),
    "bronze_visual_stream": (
        "event_id", "device_id", "store_id", "ts", "schema", "frame_id", "width", "height",
        "model_version", "labels", "warnings", "payload", *_COORDS,
    ),
    "bronze_device_heartbeat": (
        "event_id", "device_id", "store_id", "ts", "schema", "uptime_s", "cpu_pct", "mem_pct",
        "cpu_temp_c", "disk_free_mb", "outbox_depth", "models", "sw_version", "interval_s",
        "warnings", "payload", *_COORDS,
    ),
    "bronze_insight_feedback": (
        "event_id", "device_id", "store_id", "ts", "schema", "insight_id", "advisor_id",
        "insight_type", "action", "comment", "warnings", "payload", *_COORDS,
    ),
    "quarantine_events": QUARANTINE_COLUMNS,
    "late_events": (
        "topic", "partition", "offset", "record_ts", "key", "stream", "event_id", "device_id",
        "store_id", "ts", "watermark", "reason", "payload", "detected_at",
    ),
    "dq_rule_metrics": DQ_COLUMNS,
    "silver_multimodal_aligned": (
        "interaction_id", "store_id", "device_id", "started_at", "ended_at", "duration_ms",
        "n_utterances", "n_frames", "max_people", "n_words", "transcript", "brands_mentioned",
        "brands_seen", "greeted", "asked", "sentiment", "has_speech", "has_vision", "processed_at",
    ),
    "silver_annotated_events": (
        "interaction_id", "event_id", "store_id", "device_id", "ts", "kind", "greeting",
        "question", "brands", "people", "sentiment", "lang", "n_words", "processed_at",
    ),
    "silver_device_heartbeat": (
        "event_id", "device_id", "store_id", "ts", "cpu_pct", "mem_pct", "cpu_temp_c",
        "disk_free_mb", "outbox_depth", "interval_s", "models", "sw_version", "status",
        "processed_at",
    ),
    "gold_store_interaction_metrics": (
        "store_id", "window_start", "window_end", "interactions", "avg_dwell_s", "p90_dwell_s",
        "greeted_interactions", "greeted_rate", "speech_interactions", "speech_rate",
        "brand_mentions", "avg_sentiment", "active_devices", "updated_at",
    ),
    "gold_device_health_summary": (
        "device_id", "window_start", "window_end", "store_id", "heartbeats_received",
        "heartbeats_expected", "uptime_pct", "cpu_pct_avg", "cpu_pct_max", "mem_pct_max",
        "cpu_temp_max", "disk_free_min_mb", "outbox_depth_max", "model_versions", "sw_version",
        "last_seen", "status", "updated_at",
    ),
    "gold_transcript_sentiment_analysis": (
        "store_id", "window_start", "window_end", "utterances", "positive", "neutral",
        "negative", "avg_sentiment", "language_mix", "updated_at",
    ),
    "gold_brand_performance": (
        "store_id", "day", "brand", "window_start", "window_end", "mentions", "sightings",
        "interactions", "updated_at",
    ),
    "gold_insight_feedback": (
        "store_id", "day", "insight_type", "window_start", "window_end", "accepted", "dismissed",
        "snoozed", "acceptance_rate", "updated_at",
    ),
}  # fmt: skip

LAYERS: dict[str, str] = {t: t.split("_", 1)[0] for t in COLUMNS}
LAYERS.update(quarantine_events="quarantine", late_events="quarantine", dq_rule_metrics="quality")


@dataclass
class TableRows:
    """Rows for several tables, the unit every step hands to the sink."""

    rows: dict[str, list[tuple[object, ...]]] = field(default_factory=lambda: defaultdict(list))

    def add(self, table: str, row: tuple[object, ...]) -> None:
        self.rows[table].append(row)

    def extend(self, table: str, rows: list[tuple[object, ...]]) -> None:
        if rows:
            self.rows[table].extend(rows)

    def merge(self, other: TableRows) -> None:
        for table, rows in other.rows.items():
            self.rows[table].extend(rows)

    def __bool__(self) -> bool:
        return any(self.rows.values())

    def count(self) -> int:
        return sum(len(r) for r in self.rows.values())
