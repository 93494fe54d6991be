"""Bronze rows: every accepted event as received, plus where it came from and whether it was late.

One row class per stream (:mod:`dataflows.tables`); the per-key stage
(:mod:`dataflows.silver.event_clock`) decides ``late`` and calls :func:`bronze_row`.
"""

from __future__ import annotations

from typing import cast

from dataflows.bronze.validate import Accepted
from dataflows.tables import BronzeFeedbackRow, BronzeHeartbeatRow, BronzeSttRow, BronzeVisualRow, build_row
from scout_contract import FeedbackV1, HeartbeatV1, SttV1, SttV2, VisualV1
from scout_contract.events import SCHEMAS

BronzeRow = BronzeSttRow | BronzeVisualRow | BronzeHeartbeatRow | BronzeFeedbackRow

_TAGS: dict[type, str] = {}


def _schema(event: object) -> str:
    """The schema tag of an event (cached per type: strict subclasses share their base's tag)."""
    kind = type(event)
    tag = _TAGS.get(kind)
    if tag is None:
        found = kind.__struct_config__.tag  # type: ignore[attr-defined]
        if not isinstance(found, str) or found not in SCHEMAS:
            raise TypeError(f"not a contract event: {kind.__name__}")
        tag = _TAGS[kind] = found
    return tag


def bronze_row(acc: Accepted, now: int, late: bool, labels: list[str] | None = None) -> BronzeRow:
    """The bronze row of an accepted event (``late``: after its key's watermark;
    ``labels``: a visual event's detection labels, when the caller has them already)."""
    rec = acc.record
    coords = (rec.topic, rec.partition, rec.offset, rec.timestamp_ms, now, late)
    warnings = list(acc.warnings)
    ts = acc.ts_ms
    stream = acc.stream  # most frequent first
    if stream == "visual":
        vis = cast(VisualV1, acc.event)
        if labels is None:
            labels = [d.label for d in vis.detections]
        return build_row(BronzeVisualRow, (
            vis.event_id, vis.device_id, vis.store_id, ts, _schema(vis), vis.frame_id, vis.width,
            vis.height, vis.model_version, labels, warnings, rec.value, *coords,
        ))  # fmt: skip
    if stream == "stt":
        stt = cast(SttV1 | SttV2, acc.event)
        return build_row(BronzeSttRow, (
            stt.event_id, stt.device_id, stt.store_id, ts, _schema(stt), stt.duration_ms,
            stt.transcript, stt.confidence, stt.lang, stt.engine, stt.model_version,
            len(stt.words) if stt.words is not None else None,
            stt.audio_url if isinstance(stt, SttV1) else None,
            warnings, rec.value, *coords,
        ))  # fmt: skip
    if stream == "heartbeat":
        hb = cast(HeartbeatV1, acc.event)
        return build_row(BronzeHeartbeatRow, (
            hb.event_id, hb.device_id, hb.store_id, ts, _schema(hb), hb.uptime_s, hb.cpu_pct,
            hb.mem_pct, hb.cpu_temp_c, hb.disk_free_mb, hb.outbox_depth, hb.models, hb.sw_version,
            hb.interval_s, warnings, rec.value, *coords,
        ))  # fmt: skip
    fb = cast(FeedbackV1, acc.event)
    return build_row(BronzeFeedbackRow, (
        fb.event_id, fb.device_id, fb.store_id, ts, _schema(fb), fb.insight_id, fb.advisor_id,
        fb.insight_type, fb.action, fb.comment, warnings, rec.value, *coords,
    ))  # fmt: skip
