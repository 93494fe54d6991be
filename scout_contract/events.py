"""Event contract v1 (SPEC §2), shared by the edge runtime and the dataflows.

Every event is one JSON object whose ``schema`` field names its stream and
version. Decoding is strict about types and required fields; value ranges
(e.g. ``confidence`` in 0..1) are *quality rules* owned by the dataflow's rules
file, so an out-of-range value is still a well-formed event here.

>>> ev = decode_event(b'{"schema": "scout.feedback/1", "event_id": "f-1",'
...     b' "device_id": "SCOUTPI-0001", "store_id": "STORE-0001",'
...     b' "ts": "2025-05-19T08:00:01.250+00:00", "insight_id": "i-9",'
...     b' "advisor_id": "adv-1", "insight_type": "restock", "action": "accepted"}')
>>> type(ev).__name__, ev.action, ts_millis(ev.ts)
('FeedbackV1', 'accepted', 1747641601250)
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal, TypeAlias

import msgspec

from scout_contract.streams import STREAM_OF_SCHEMA

#: An RFC 3339 timestamp that must carry a timezone.
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]


class Word(msgspec.Struct, frozen=True, gc=False):
    """One recognised word with its timing inside the utterance."""

    w: str
    start_ms: int
    end_ms: int
    conf: float


class Detection(msgspec.Struct, frozen=True, gc=False):
    """One detection in a frame; ``bbox`` is ``[x, y, w, h]`` normalised to 0..1."""

    label: str
    confidence: float
    bbox: list[float]
    zone: str | None = None
    track_id: int | None = None


class _EventBase(msgspec.Struct, frozen=True, kw_only=True, tag_field="schema", gc=False):
    event_id: str
    device_id: str
    store_id: str
    ts: AwareDatetime


class SttV1(_EventBase, frozen=True, kw_only=True, tag="scout.stt/1"):
    """A speech transcript produced on the device."""

    duration_ms: int
    transcript: str
    confidence: float
    lang: str
    engine: str
    model_version: str
    words: list[Word] | None = None
    #: Deprecated but accepted: older dashboards still read it.
    audio_url: str | None = None


class SttV2(_EventBase, frozen=True, kw_only=True, tag="scout.stt/2"):
    """Version 2 of the transcript event, readable side by side with v1.

    It adds ``speaker`` (diarisation label) and drops the deprecated
    ``audio_url``. :func:`as_stt_v1` maps it onto the v1 shape the dataflow
    reasons about.
    """

    duration_ms: int
    transcript: str
    confidence: float
    lang: str
    engine: str
    model_version: str
    words: list[Word] | None = None
    speaker: str | None = None


class VisualV1(_EventBase, frozen=True, kw_only=True, tag="scout.visual/1"):
    """Detections for one camera frame."""

    frame_id: int
    width: int
    height: int
    model_version: str
    detections: list[Detection]


class HeartbeatV1(_EventBase, frozen=True, kw_only=True, tag="scout.heartbeat/1"):
    """Periodic device health report."""

    uptime_s: float
    cpu_pct: float
    mem_pct: float
    cpu_temp_c: float | None
    disk_free_mb: float
    outbox_depth: int
    models: dict[str, str]
    sw_version: str
    interval_s: float
    #: Optional, additive in v1 (older readers ignore it): ``ok`` or ``degraded``.
    status: str | None = None
    #: Optional: what is wrong when ``status`` is ``degraded`` (a missing camera, a model that failed to load, …).
    problems: list[str] | None = None
    #: Optional, additive: the last model update's outcome ("centerface 2.0.0: installed …", "… rejected …").
    model_update: str | None = None


class FeedbackV1(_EventBase, frozen=True, kw_only=True, tag="scout.feedback/1"):
    """A store advisor's reaction to an insight."""

    insight_id: str
    advisor_id: str
    insight_type: str
    action: Literal["accepted", "dismissed", "snoozed"]
    comment: str | None = None


class AnnotatedV1(_EventBase, frozen=True, kw_only=True, tag="scout.annotated/1"):
    """Output of the dataflow (topic ``eh-pi-annotated-events``): the semantic
    tags of one utterance or people frame, with the interaction it belongs to.
    ``event_id`` is the source event's id."""

    interaction_id: str
    kind: Literal["utterance", "frame"]
    greeting: bool
    question: bool
    brands: list[str]
    people: int
    sentiment: float
    lang: str
    n_words: int


Event: TypeAlias = SttV1 | SttV2 | VisualV1 | HeartbeatV1 | FeedbackV1
Stt: TypeAlias = SttV1 | SttV2

#: Every schema tag this contract can read, mapped to its stream name.
SCHEMAS: dict[str, str] = dict(STREAM_OF_SCHEMA)

STREAM_OF_TYPE: dict[type, str] = {
    SttV1: "stt",
    SttV2: "stt",
    VisualV1: "visual",
    HeartbeatV1: "heartbeat",
    FeedbackV1: "feedback",
}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
_decoder = msgspec.json.Decoder(Event)
_encoder = msgspec.json.Encoder()


def decode_event(payload: bytes | str) -> Event:
    """Decode one JSON payload; raises :class:`msgspec.ValidationError` or
    :class:`msgspec.DecodeError` with a message naming the offending field."""
    event: Event = _decoder.decode(payload)
    return event


_TS_FIELD = re.compile(rb'"ts":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)"')


def _ms_precision(m: re.Match[bytes]) -> bytes:
    fraction = (m.group(2) or b"")[:3].ljust(3, b"0")
    return b'"ts":"' + m.group(1) + b"." + fraction + m.group(3) + b'"'


def encode_event(event: Event | AnnotatedV1) -> bytes:
    """Encode an event as compact JSON (the wire form), ``ts`` with exactly
    millisecond precision as SPEC §2 asks.

    >>> from datetime import datetime, timezone
    >>> hb = FeedbackV1(event_id="f", device_id="d", store_id="s", insight_id="i", advisor_id="a",
    ...                 insight_type="t", action="accepted", ts=datetime(2025, 5, 19, 8, tzinfo=timezone.utc))
    >>> b'"ts":"2025-05-19T08:00:00.000Z"' in encode_event(hb)
    True
    """
    return _TS_FIELD.sub(_ms_precision, _encoder.encode(event), count=1)


def ts_millis(ts: datetime) -> int:
    """Event time as integer milliseconds since the Unix epoch (UTC)."""
    return (ts - _EPOCH) // _MILLISECOND


def as_stt_v1(event: Stt) -> SttV1:
    """Normalise any transcript version to the v1 shape."""
    if isinstance(event, SttV1):
        return event
    return SttV1(
        event_id=event.event_id,
        device_id=event.device_id,
        store_id=event.store_id,
        ts=event.ts,
        duration_ms=event.duration_ms,
        transcript=event.transcript,
        confidence=event.confidence,
        lang=event.lang,
        engine=event.engine,
        model_version=event.model_version,
        words=event.words,
    )


def stream_of(event: Event) -> str:
    """The stream (``stt``, ``visual``, ``heartbeat``, ``feedback``) of an event
    (also of a subclass of a contract type, found by its schema tag)."""
    kind = type(event)
    stream = STREAM_OF_TYPE.get(kind) or _SUBCLASS_STREAM.get(kind)
    if stream is None:
        stream = _SUBCLASS_STREAM[kind] = SCHEMAS[kind.__struct_config__.tag]  # type: ignore[index]
    return stream


#: Streams of subclasses of the contract's types met so far (e.g. the validator's strict types).
_SUBCLASS_STREAM: dict[type, str] = {}
