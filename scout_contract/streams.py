"""The input streams, defined once: name, schemas, default topic, Kafka key, clock group, bronze table.

Every list of streams elsewhere (topics, rules, the per-key event clock, bronze tables, the
file and bronze sources, tests) is derived from :data:`STREAMS`.

>>> [s.name for s in STREAMS]
['stt', 'visual', 'heartbeat', 'feedback']
>>> BY_NAME["feedback"].key_field, BY_NAME["visual"].clock_group, BY_NAME["stt"].bronze_table
('store_id', 'join', 'bronze_stt_raw')
"""

from __future__ import annotations

from dataclasses import dataclass

from scout_contract import topics


@dataclass(frozen=True)
class Stream:
    """One input stream of the contract (SPEC §2)."""

    name: str
    #: Schema tags read on this stream (a new version is read side by side with the old).
    schemas: tuple[str, ...]
    #: Default topic (configurable in the dataflow and on the device).
    topic: str
    #: The event field producers key records by (Kafka key).
    key_field: str
    #: Event-time clock of a key this stream advances: speech and vision share ``join``.
    clock_group: str
    #: Bronze table of its accepted events.
    bronze_table: str


STREAMS: tuple[Stream, ...] = (
    Stream("stt", ("scout.stt/1", "scout.stt/2"), topics.STT, "device_id", "join", "bronze_stt_raw"),
    Stream("visual", ("scout.visual/1",), topics.VISUAL, "device_id", "join", "bronze_visual_stream"),
    Stream("heartbeat", ("scout.heartbeat/1",), topics.HEARTBEAT, "device_id", "heartbeat", "bronze_device_heartbeat"),
    Stream("feedback", ("scout.feedback/1",), topics.FEEDBACK, "store_id", "feedback", "bronze_insight_feedback"),
)
BY_NAME: dict[str, Stream] = {s.name: s for s in STREAMS}
NAMES: tuple[str, ...] = tuple(BY_NAME)
#: schema tag -> stream name
STREAM_OF_SCHEMA: dict[str, str] = {schema: s.name for s in STREAMS for schema in s.schemas}
#: stream name -> default input topic
INPUT_TOPICS: dict[str, str] = {s.name: s.topic for s in STREAMS}
