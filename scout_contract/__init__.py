"""Scout stream event contract: the one place both halves import.

It must not import bytewax, onnxruntime or clickhouse (a test enforces it).
"""

from scout_contract.events import (
    SCHEMAS,
    AnnotatedV1,
    Detection,
    Event,
    FeedbackV1,
    HeartbeatV1,
    Stt,
    SttV1,
    SttV2,
    VisualV1,
    Word,
    as_stt_v1,
    decode_event,
    encode_event,
    stream_of,
    ts_millis,
)
from scout_contract.records import SourceRecord, decode_record_line, encode_record_line

__all__ = [
    "SCHEMAS",
    "AnnotatedV1",
    "Detection",
    "Event",
    "FeedbackV1",
    "HeartbeatV1",
    "SourceRecord",
    "Stt",
    "SttV1",
    "SttV2",
    "VisualV1",
    "Word",
    "as_stt_v1",
    "decode_event",
    "decode_record_line",
    "encode_event",
    "encode_record_line",
    "stream_of",
    "ts_millis",
]
