"""Deterministic store simulator: customers at the counter become events.

For each device, customers arrive (Poisson) alone or in small groups, stay a
while, are seen by the camera at ``fps`` and talk; the device sends
heartbeats at its interval. Advisors send feedback on insights per store.
Delivery adds a small delay; configurable fractions of records are malformed,
duplicated, delayed within the out-of-orderness bound, or late beyond it; one
device can go silent half way. The output is the file form of the topics
(SPEC §2), in record-timestamp order, as a consumer reading every topic would
see it. Same config and seed ⇒ the same bytes.

>>> cfg = SimConfig(stores=1, devices_per_store=1, hours=0.1, seed=3, silent_devices=0)
>>> recs = list(simulate(cfg))
>>> len(recs) > 50, recs == list(simulate(cfg))
(True, True)
"""

from __future__ import annotations

import heapq
import random
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import msgspec

from dataflows.simulator.speech import INTENT_WEIGHTS, INTENTS, SPOKEN_BRANDS, utterance
from scout_contract import (
    Detection,
    FeedbackV1,
    HeartbeatV1,
    SourceRecord,
    SttV1,
    VisualV1,
    Word,
    encode_event,
)
from scout_contract.streams import INPUT_TOPICS

_ENC = msgspec.json.Encoder()
_ACTIONS: list[Literal["accepted", "dismissed", "snoozed"]] = ["accepted", "dismissed", "snoozed"]
_BRANDS = sorted(SPOKEN_BRANDS)


@dataclass(frozen=True)
class SimConfig:
    stores: int = 4
    devices_per_store: int = 2
    hours: float = 2.0
    start: datetime = datetime(2025, 5, 19, 0, 0, tzinfo=UTC)  # 08:00 in Manila
    seed: int = 7
    customers_per_hour: float = 20.0
    fps: float = 1.0
    idle_frame_every_s: float = 10.0
    heartbeat_intervals_s: tuple[float, ...] = (30.0, 60.0)
    feedback_per_store_hour: float = 3.0
    partitions: int = 2
    malformed_rate: float = 0.002
    duplicate_rate: float = 0.005
    out_of_order_rate: float = 0.02
    late_rate: float = 0.001
    empty_transcript_rate: float = 0.02
    #: How many devices (the last ones) stop sending half way through.
    silent_devices: int = 1
    topics: dict[str, str] = field(default_factory=lambda: dict(INPUT_TOPICS))


@dataclass(order=True)
class _Pending:
    record_ts: int
    seq: int
    topic: str = field(compare=False)
    key: str = field(compare=False)
    value: bytes = field(compare=False)


def _ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def _iso(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


class _Device:
    """Generates one device's events in event-time order."""

    def __init__(self, cfg: SimConfig, store_id: str, device_id: str, index: int, silent_after: int | None):
        self.cfg = cfg
        self.store_id = store_id
        self.device_id = device_id
        self.rng = random.Random(f"{cfg.seed}:{device_id}")
        self.interval_s = cfg.heartbeat_intervals_s[index % len(cfg.heartbeat_intervals_s)]
        self.silent_after = silent_after
        self.seq = 0

    def _id(self, kind: str) -> str:
        self.seq += 1
        return f"{self.device_id}:{kind}:{self.seq:08d}"

    def events(self, start: int, end: int) -> Iterator[tuple[int, str, bytes]]:
        """Yield ``(ts_ms, stream, payload)`` in ts order."""
        rng = self.rng
        stop = min(end, self.silent_after) if self.silent_after is not None else end
        visits: list[tuple[int, int, int, int]] = []  # arrive, leave, people, first track id
        t = start + rng.expovariate(self.cfg.customers_per_hour / 3_600_000)
        track = 1
        while t < stop:
            dwell = rng.uniform(20_000, 180_000)
            people = rng.choices((1, 2, 3), (6, 3, 1))[0]
            visits.append((int(t), int(min(t + dwell, stop)), people, track))
            track += people
            t += dwell + rng.expovariate(self.cfg.customers_per_hour / 3_600_000)
        out: list[tuple[int, str, bytes]] = []
        for v in visits:
            out.extend(self._speech(v))
        step = int(1000 / self.cfg.fps)
        next_idle = start
        vi = 0
        for frame_id, ts in enumerate(range(start, stop, step), start=1):
            while vi < len(visits) and visits[vi][1] < ts:
                vi += 1
            present = [v for v in visits[vi : vi + 2] if v[0] <= ts <= v[1]]
            if present:
                out.append((ts, "visual", self._frame(ts, frame_id, present)))
            elif ts >= next_idle:
                out.append((ts, "visual", self._frame(ts, frame_id, [])))
                next_idle = ts + int(self.cfg.idle_frame_every_s * 1000)
        hb = start + rng.randrange(int(self.interval_s * 1000))
        boot = start - rng.randrange(3_600_000, 30 * 86_400_000)
        while hb < stop:
            out.append((hb, "heartbeat", self._heartbeat(hb, boot)))
            hb += int(self.interval_s * 1000)
        out.sort(key=lambda e: e[0])
        yield from out

    def _speech(self, visit: tuple[int, int, int, int]) -> list[tuple[int, str, bytes]]:
        rng = self.rng
        arrive, leave, _, _ = visit
        brand = rng.choice(_BRANDS)
        spoken = rng.choice(SPOKEN_BRANDS[brand])
        n = max(1, int((leave - arrive) / 20_000))
        if rng.random() < 0.25:  # some customers point, pay and leave without a word
            return []
        intents = (["greeting"] if rng.random() < 0.7 else []) + rng.choices(INTENTS, INTENT_WEIGHTS, k=n)
        out = []
        t = arrive + rng.randrange(500, 3_000)
        for intent in intents:
            if t >= leave:
                break
            line = utterance(rng, intent, spoken)
            text = "" if rng.random() < self.cfg.empty_transcript_rate else line.text
            tokens = text.split()
            duration = max(400, 350 * len(tokens) + rng.randrange(0, 600))
            words = None
            if tokens and rng.random() < 0.5:
                per = duration // len(tokens)
                words = [
                    Word(w=tok, start_ms=i * per, end_ms=(i + 1) * per, conf=round(rng.uniform(0.6, 0.99), 2))
                    for i, tok in enumerate(tokens)
                ]
            ev = SttV1(
                event_id=self._id("stt"), device_id=self.device_id, store_id=self.store_id, ts=_iso(t),
                duration_ms=duration, transcript=text, confidence=round(rng.uniform(0.55, 0.98), 3),
                lang=line.lang, engine="vosk", model_version="vosk-tl-0.3", words=words,
            )  # fmt: skip
            out.append((t, "stt", encode_event(ev)))
            t += duration + rng.randrange(1_000, 15_000)
        return out

    def _frame(self, ts: int, frame_id: int, present: list[tuple[int, int, int, int]]) -> bytes:
        rng = self.rng
        dets: list[Detection] = []
        for _, _, people, track in present:
            for p in range(people):
                x, y = round(rng.uniform(0.05, 0.7), 3), round(rng.uniform(0.05, 0.6), 3)
                dets.append(
                    Detection("person", round(rng.uniform(0.6, 0.99), 3), [x, y, 0.2, 0.35], "counter", track + p)
                )
                if rng.random() < 0.8:
                    dets.append(
                        Detection(
                            "face",
                            round(rng.uniform(0.5, 0.99), 3),
                            [x + 0.05, y, 0.08, 0.1],
                            "counter",
                            track + p,
                        )
                    )
        if rng.random() < (0.08 if present else 0.3):
            dets.append(
                Detection(
                    f"brand:{rng.choice(_BRANDS)}",
                    round(rng.uniform(0.5, 0.95), 3),
                    [0.8, 0.1, 0.1, 0.2],
                    "shelf",
                    None,
                )
            )
        if present and rng.random() < 0.03:
            dets.append(Detection("gesture:point", 0.7, [0.4, 0.4, 0.1, 0.1], "counter", None))
        ev = VisualV1(
            event_id=self._id("vis"), device_id=self.device_id, store_id=self.store_id, ts=_iso(ts),
            frame_id=frame_id, width=640, height=448, model_version="centerface-int8-1.0", detections=dets,
        )  # fmt: skip
        return encode_event(ev)

    def _heartbeat(self, ts: int, boot: int) -> bytes:
        rng = self.rng
        ev = HeartbeatV1(
            event_id=self._id("hb"), device_id=self.device_id, store_id=self.store_id, ts=_iso(ts),
            uptime_s=(ts - boot) / 1000, cpu_pct=round(rng.uniform(15, 85), 1),
            mem_pct=round(rng.uniform(30, 70), 1),
            cpu_temp_c=round(rng.uniform(45, 78), 1), disk_free_mb=round(rng.uniform(2_000, 20_000), 1),
            outbox_depth=rng.randrange(0, 40), models={"face": "centerface-int8-1.0", "stt": "vosk-tl-0.3"},
            sw_version="0.1.0", interval_s=self.interval_s,
        )  # fmt: skip
        return encode_event(ev)


def _feedback(cfg: SimConfig, store_id: str, start: int, end: int) -> Iterator[tuple[int, str, bytes]]:
    rng = random.Random(f"{cfg.seed}:{store_id}:feedback")
    t = start + rng.expovariate(cfg.feedback_per_store_hour / 3_600_000)
    n = 0
    while t < end:
        n += 1
        ev = FeedbackV1(
            event_id=f"{store_id}:fb:{n:06d}", device_id="advisor-app", store_id=store_id, ts=_iso(int(t)),
            insight_id=f"ins-{rng.randrange(1000):04d}", advisor_id=f"adv-{rng.randrange(1, 6)}",
            insight_type=rng.choice(["restock", "promo", "greeting_coaching", "opening_hours"]),
            action=rng.choices(_ACTIONS, (5, 3, 2))[0],
            comment=rng.choice([None, "ok", "will try next week"]),
        )  # fmt: skip
        yield int(t), "feedback", encode_event(ev)
        t += rng.expovariate(cfg.feedback_per_store_hour / 3_600_000)


#: Topic marker of a record whose *file line* must be written broken.
BROKEN_ENVELOPE = "\x00broken-envelope"

_MALFORMED_KINDS = (
    "truncated_json", "not_an_object", "unknown_schema", "wrong_type", "missing_field",
    "ts_before_2020", "ts_in_future", "confidence_out_of_range", "broken_envelope",
)  # fmt: skip


def _malform(kind: str, payload: bytes, record_ts: int) -> bytes:
    obj = msgspec.json.decode(payload)
    if kind == "truncated_json":
        return payload[: len(payload) // 2]
    if kind == "not_an_object":
        return b'["not", "an", "event"]'
    if kind == "unknown_schema":
        obj["schema"] = "scout.smell/1"
    elif kind == "wrong_type":
        obj["device_id"] = 12345
    elif kind == "missing_field":
        obj.pop("store_id", None)
    elif kind == "ts_before_2020":
        obj["ts"] = "2019-12-31T23:59:59.000+00:00"
    elif kind == "ts_in_future":
        obj["ts"] = _iso(record_ts + 3 * 3_600_000).isoformat(timespec="milliseconds")
    elif kind == "confidence_out_of_range":
        if obj.get("schema") == "scout.stt/1":
            obj["confidence"] = 1.7
        else:
            obj["ts"] = "not a timestamp"
    return _ENC.encode(obj)


def _tagged(i: int, events: Iterator[tuple[int, str, bytes]]) -> Iterator[tuple[int, int, str, bytes]]:
    for ts, stream, payload in events:
        yield ts, i, stream, payload


def simulate(cfg: SimConfig) -> Iterator[SourceRecord]:
    """Yield the simulated records in record-timestamp order."""
    start = _ms(cfg.start)
    end = start + int(cfg.hours * 3_600_000)
    rng = random.Random(f"{cfg.seed}:delivery")
    sources: list[Iterator[tuple[int, str, bytes]]] = []
    keys: list[str] = []
    n_devices = cfg.stores * cfg.devices_per_store
    d = 0
    for s in range(cfg.stores):
        store_id = f"STORE-{s + 1:04d}"
        for _ in range(cfg.devices_per_store):
            device_id = f"SCOUTPI-{d + 1:04d}"
            silent = (start + end) // 2 if d >= n_devices - cfg.silent_devices else None
            sources.append(_Device(cfg, store_id, device_id, d, silent).events(start, end))
            keys.append(device_id)
            d += 1
        sources.append(_feedback(cfg, store_id, start, end))
        keys.append(store_id)
    merged = heapq.merge(*[_tagged(i, src) for i, src in enumerate(sources)])
    pending: list[_Pending] = []
    offsets: dict[tuple[str, int], int] = {}
    seq = 0
    malformed_i = 0

    def release(upto: int) -> Iterator[SourceRecord]:
        while pending and pending[0].record_ts < upto:
            p = heapq.heappop(pending)
            part = zlib.crc32(p.key.encode()) % cfg.partitions
            off = offsets.get((p.topic, part), 0)
            offsets[(p.topic, part)] = off + 1
            yield SourceRecord(p.topic, part, off, p.record_ts, p.key, p.value)

    for ts, i, stream, original in merged:
        yield from release(ts)
        topic = cfg.topics[stream]
        key = keys[i]
        delay = rng.randrange(50, 800)
        r = rng.random()
        if r < cfg.late_rate:
            delay += rng.randrange(120_000, 600_000)
        elif r < cfg.late_rate + cfg.out_of_order_rate:
            delay += rng.randrange(1_000, 8_000)
        record_ts = ts + delay
        payload = original
        if rng.random() < cfg.malformed_rate:
            kind = _MALFORMED_KINDS[malformed_i % len(_MALFORMED_KINDS)]
            malformed_i += 1
            payload = _malform(kind, payload, record_ts)
            if kind == "broken_envelope":
                topic = BROKEN_ENVELOPE
        seq += 1
        heapq.heappush(pending, _Pending(record_ts, seq, topic, key, payload))
        if rng.random() < cfg.duplicate_rate:
            seq += 1
            heapq.heappush(pending, _Pending(record_ts + rng.randrange(200, 5_000), seq, topic, key, payload))
    yield from release(2**62)
