"""Hand-written events and records for tests (real contract payloads)."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from scout_contract import SourceRecord, encode_record_line
from scout_contract.streams import INPUT_TOPICS, STREAM_OF_SCHEMA

T0 = 1_747_641_600_000  # 2025-05-19T08:00:00Z
#: Processing (ingest) time the tests run at: a day after T0, so no event is "ahead of ingest".
NOW = T0 + 86_400_000
_ids = itertools.count(1)
_offsets: dict[str, itertools.count[int]] = {}


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def stt(ts: int, text: str = "Magandang umaga po", device: str = "SCOUTPI-0001", store: str = "STORE-0001",
        duration_ms: int = 1_500, event_id: str | None = None, **extra: Any) -> dict[str, Any]:  # fmt: skip
    return {
        "schema": "scout.stt/1", "event_id": event_id or f"stt-{next(_ids)}", "device_id": device,
        "store_id": store, "ts": iso(ts), "duration_ms": duration_ms, "transcript": text, "confidence": 0.9,
        "lang": "tl", "engine": "vosk", "model_version": "v1", "audio_url": None, **extra,
    }  # fmt: skip


def visual(ts: int, labels: tuple[str, ...] = ("person", "face"), device: str = "SCOUTPI-0001",
           store: str = "STORE-0001", event_id: str | None = None, **extra: Any) -> dict[str, Any]:  # fmt: skip
    dets = [
        {"label": lbl, "confidence": 0.9, "bbox": [0.1, 0.1, 0.2, 0.3], "zone": "counter", "track_id": i}
        for i, lbl in enumerate(labels)
    ]
    return {
        "schema": "scout.visual/1", "event_id": event_id or f"vis-{next(_ids)}", "device_id": device,
        "store_id": store, "ts": iso(ts), "frame_id": 1, "width": 640, "height": 448, "model_version": "m1",
        "detections": dets, **extra,
    }  # fmt: skip


def heartbeat(ts: int, device: str = "SCOUTPI-0001", store: str = "STORE-0001", interval_s: float = 600,
              event_id: str | None = None, **extra: Any) -> dict[str, Any]:  # fmt: skip
    return {
        "schema": "scout.heartbeat/1", "event_id": event_id or f"hb-{next(_ids)}", "device_id": device,
        "store_id": store, "ts": iso(ts), "uptime_s": 100.0, "cpu_pct": 20.0, "mem_pct": 40.0,
        "cpu_temp_c": 55.0, "disk_free_mb": 9000.0, "outbox_depth": 0, "models": {"face": "f1"},
        "sw_version": "0.1.0", "interval_s": interval_s, **extra,
    }  # fmt: skip


def feedback(ts: int, action: str = "accepted", store: str = "STORE-0001", insight_type: str = "restock",
             event_id: str | None = None) -> dict[str, Any]:  # fmt: skip
    return {
        "schema": "scout.feedback/1", "event_id": event_id or f"fb-{next(_ids)}", "device_id": "advisor-app",
        "store_id": store, "ts": iso(ts), "insight_id": "i-1", "advisor_id": "a-1",
        "insight_type": insight_type, "action": action,
    }  # fmt: skip


def record(value: dict[str, Any] | bytes | str, record_ts: int | None = None, topic: str | None = None,
           key: str | None = None, offset: int | None = None) -> SourceRecord:  # fmt: skip
    """A record as a broker would deliver it; dict values are encoded as JSON."""
    if isinstance(value, dict):
        topic = topic or INPUT_TOPICS[STREAM_OF_SCHEMA.get(value.get("schema", ""), "stt")]
        key = key or (value.get("store_id") if value.get("schema") == "scout.feedback/1" else value.get("device_id"))
        try:
            ts = int(datetime.fromisoformat(value["ts"]).timestamp() * 1000)
        except (KeyError, TypeError, ValueError):
            ts = T0
        record_ts = record_ts if record_ts is not None else ts + 100
        payload = msgspec.json.encode(value)
    else:
        payload = value.encode() if isinstance(value, str) else value
        topic = topic or INPUT_TOPICS["stt"]
        record_ts = record_ts if record_ts is not None else T0
    if offset is None:
        offset = next(_offsets.setdefault(topic, itertools.count()))
    return SourceRecord(topic, 0, offset, record_ts, key, payload)


def write_records(path: Path, records: list[SourceRecord]) -> Path:
    with path.open("wb") as f:
        for r in records:
            f.write(encode_record_line(r) + b"\n")
    return path


def hostile_lines(valid: list[bytes], n: int, seed: int) -> list[bytes]:
    """``n`` topic-file lines an adversary (or a broken disk) could write, built from valid lines:
    flipped and cut bytes, bytes that are not UTF-8 in values and keys, bad base64, deep nesting,
    coordinates no column holds, arbitrary bytes. Seeded: the same lines every run."""
    import random

    rng = random.Random(seed)
    head = b'{"topic":"eh-pi-stt-raw","partition":99,"offset":%d,"timestamp_ms":%d,'
    makers: list[Callable[[int, bytes], bytes]] = [
        lambda i, v: v[: rng.randrange(1, len(v))],
        lambda i, v: bytes(b ^ 0x80 if rng.random() < 0.02 else b for b in v),
        lambda i, v: head % (i, T0) + b'"key":"\xff\xfe","value":{}}',
        lambda i, v: head % (i, T0) + b'"value":"\xc3\x28 not utf-8"}',
        lambda i, v: head % (i, T0) + b'"value_b64":"%%%not base64"}',
        lambda i, v: head % (i, T0) + b'"value":' + b"[" * 20_000 + b"]" * 20_000 + b"}",
        lambda i, v: head % (i, T0) + b'"value":' + b'{"a":' * 5_000 + b"1" + b"}" * 5_000 + b"}",
        lambda i, v: v.replace(b'"partition":', b'"partition":9', 1).replace(b'"offset":', b'"offset":' + b"9" * 20, 1),
        lambda i, v: v.replace(b'"timestamp_ms":', b'"timestamp_ms":-', 1),
        lambda i, v: bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))).replace(b"\n", b""),
        lambda i, v: b"\xef\xbb\xbf" + v,
        lambda i, v: v.replace(b'"ts":"', b'"ts":"\x00', 1),
    ]  # fmt: skip
    out = []
    for i in range(n):
        v = valid[i % len(valid)]
        line = makers[i % len(makers)](i, v) if rng.random() < 0.6 else v
        out.append(line.replace(b"\n", b" "))
    return out


def break_ranges(records: list[SourceRecord], seed: int) -> list[SourceRecord]:
    """Push random fields out of their ranges, as a faulty device would."""
    rng = random.Random(seed)
    out = []
    for rec in records:
        try:
            obj = msgspec.json.decode(rec.value)
        except msgspec.DecodeError:
            out.append(rec)
            continue
        if isinstance(obj, dict) and rng.random() < 0.2:
            if obj.get("detections"):
                det = rng.choice(obj["detections"])
                det[rng.choice(["confidence", "bbox", "label"])] = rng.choice(
                    [1.5, -0.1, [0.1, 0.2, 0.3], [0.1, 0.2, 3.0, 0.1], "cat", "brand:", "face\n", "brand:x\ny"]
                )
            for key, bad in (("duration_ms", 900_000), ("confidence", 2.0), ("cpu_pct", 150.0), ("transcript", "")):
                if key in obj and rng.random() < 0.3:
                    obj[key] = bad
            out.append(msgspec.structs.replace(rec, value=msgspec.json.encode(obj)))
            continue
        out.append(rec)
    return out
