"""Building contract events on the device: ids, event time, device and store.

Event ids are UUIDv5 of (device, stream, event time, sequence), so replaying
the same recording with the same ``file_clock_start`` yields the same ids
(the dataflow dedups them) and a retry of an event from the outbox always
carries the id it was stored with.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from scout_contract.events import Detection, HeartbeatV1, SttV1, VisualV1, Word

NAMESPACE = uuid.UUID("6b2f8a52-6d0c-4a8e-9a77-4e1f0c6f3b11")


@dataclass
class EventClock:
    """Event time of a media offset: a fixed start for files, the wall clock for live sources."""

    start: datetime

    @classmethod
    def live(cls) -> EventClock:
        return cls(datetime.now(UTC))

    @classmethod
    def parse(cls, text: str | None) -> EventClock:
        if text is None:
            return cls.live()
        start = datetime.fromisoformat(text)
        if start.tzinfo is None:
            raise ValueError(f"file_clock_start needs a timezone: {text!r}")
        return cls(start)

    def at(self, offset_ms: int) -> datetime:
        return self.start + timedelta(milliseconds=offset_ms)


@dataclass
class EventFactory:
    device_id: str
    store_id: str

    def event_id(self, stream: str, ts: datetime, seq: int) -> str:
        return str(uuid.uuid5(NAMESPACE, f"{self.device_id}/{stream}/{ts.isoformat()}/{seq}"))

    def stt(
        self,
        ts: datetime,
        seq: int,
        *,
        duration_ms: int,
        transcript: str,
        confidence: float,
        lang: str,
        engine: str,
        model_version: str,
        words: list[Word],
    ) -> SttV1:
        return SttV1(
            event_id=self.event_id("stt", ts, seq),
            device_id=self.device_id,
            store_id=self.store_id,
            ts=ts,
            duration_ms=duration_ms,
            transcript=transcript[:5000],
            confidence=min(1.0, max(0.0, confidence)),
            lang=lang,
            engine=engine,
            model_version=model_version,
            words=words,
        )

    def visual(
        self, ts: datetime, *, frame_id: int, width: int, height: int, model_version: str, detections: list[Detection]
    ) -> VisualV1:
        return VisualV1(
            event_id=self.event_id("visual", ts, frame_id),
            device_id=self.device_id,
            store_id=self.store_id,
            ts=ts,
            frame_id=frame_id,
            width=width,
            height=height,
            model_version=model_version,
            detections=detections,
        )

    def heartbeat(self, ts: datetime, seq: int, **fields: object) -> HeartbeatV1:
        return HeartbeatV1(
            event_id=self.event_id("heartbeat", ts, seq),
            device_id=self.device_id,
            store_id=self.store_id,
            ts=ts,
            **fields,  # type: ignore[arg-type]
        )
