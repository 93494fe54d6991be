"""Gold tumbling windows per store (hours in UTC, days in the configured zone).

:class:`StoreGold` folds :class:`~dataflows.silver.device.Fact` s into window
aggregates and, after each batch, returns the *complete* current row of every
window the batch touched. Rows carry ``updated_at``; the tables are
``ReplacingMergeTree(updated_at)`` keyed by window, so the newest row of a
window replaces the older ones (an update, a replay, a resume).

Definitions (the batch checks in ``clickhouse/verify`` use the same ones):

* an interaction counts in the hour (and day) of its ``started_at``;
  ``interactions`` are sessions with vision; rates are over those;
  ``avg_sentiment`` is over those with speech; ``p90_dwell_s`` is the
  nearest-rank 90th percentile; ``brand_mentions`` counts interactions in which
  the brand was mentioned;
* ``active_devices``: devices with any on-time stt, visual or heartbeat event
  in the hour;
* device health: one row per device per hour in which it sent a heartbeat,
  and an ``OFFLINE`` row for each hour without one that follows a heartbeat
  hour by at most ``offline_rows_h`` (default 48) and is not after the store's
  newest heartbeat hour — the work and the rows are bounded by the data, never
  by empty calendar time; ``heartbeats_expected`` = ⌊3600 / smallest
  ``interval_s``⌋ (for an empty hour: of the device's latest earlier heartbeat);
* sentiment: an utterance is positive / negative / neutral by the sign of its
  lexicon score.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from dataflows.config import WindowConfig
from dataflows.silver.annotate import Annotation
from dataflows.silver.device import HOUR_MS, Fact
from dataflows.silver.sessions import Interaction
from dataflows.tables import (
    BrandRow,
    DeviceHealthRow,
    FeedbackRow,
    LateRow,
    SentimentRow,
    StoreInteractionsRow,
    TableRows,
)
from scout_contract import FeedbackV1, HeartbeatV1

DAY_MS = 24 * HOUR_MS


@dataclass(slots=True)
class StoreHour:
    devices: set[str] = field(default_factory=set)
    dwell_s: list[float] = field(default_factory=list)
    greeted: int = 0
    #: Sentiment of each interaction with speech (kept as values: fsum makes the mean order-independent).
    speech_sentiments: list[float] = field(default_factory=list)
    mentions: Counter[str] = field(default_factory=Counter)
    positive: int = 0
    negative: int = 0
    utterance_sentiments: list[float] = field(default_factory=list)
    langs: Counter[str] = field(default_factory=Counter)


@dataclass(slots=True)
class StoreDay:
    #: brand -> [mentions, sightings, interactions]
    brands: dict[str, list[int]] = field(default_factory=dict)
    #: insight type -> [accepted, dismissed, snoozed]
    feedback: dict[str, list[int]] = field(default_factory=dict)

    def brand(self, name: str) -> list[int]:
        return self.brands.setdefault(name, [0, 0, 0])


#: The latest heartbeat known: (ts, event_id, interval_s, models, sw_version).
Latest = tuple[int, str, float, dict[str, str], str]


@dataclass(slots=True)
class DeviceHour:
    received: int = 0
    min_interval: float = math.inf
    cpu: list[float] = field(default_factory=list)
    cpu_max: float = 0.0
    mem_max: float = 0.0
    temp_max: float | None = None
    disk_min: float = math.inf
    outbox_max: int = 0
    latest: Latest | None = None


@dataclass(slots=True)
class DeviceInfo:
    #: Latest heartbeat among hours already evicted from memory.
    evicted_latest: Latest | None = None


_FEEDBACK_INDEX = {"accepted": 0, "dismissed": 1, "snoozed": 2}


class StoreGold:
    """Gold window state for one store."""

    def __init__(self, store_id: str, cfg: WindowConfig) -> None:
        self.store_id = store_id
        self.cfg = cfg
        self.hours: dict[int, StoreHour] = {}
        self.days: dict[int, StoreDay] = {}
        self.device_hours: dict[tuple[str, int], DeviceHour] = {}
        self.devices: dict[str, DeviceInfo] = {}
        self.clock: int | None = None
        self.hb_hour_max: int | None = None
        self.evicted_hour: int = -1  # hours <= this are gone
        self.evicted_day: int = -1
        self._dirty_hours: set[int] = set()
        self._dirty_sentiment: set[int] = set()
        self._dirty_days: dict[int, set[str]] = {}
        self._dirty_feedback: dict[int, set[str]] = {}
        self._dirty_device_hours: set[tuple[str, int]] = set()
        self._day_cache: dict[int, int] = {}

    # -- windows ---------------------------------------------------------------

    def day_start(self, ts: int) -> int:
        hour = ts - ts % HOUR_MS
        day = self._day_cache.get(hour)
        if day is None:
            local = datetime.fromtimestamp(hour / 1000, ZoneInfo(self.cfg.day_timezone))
            midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
            day = int(midnight.timestamp() * 1000)
            self._day_cache[hour] = day
        return day

    def _hour(self, hour: int) -> StoreHour | None:
        if hour <= self.evicted_hour:
            return None
        h = self.hours.get(hour)
        if h is None:
            h = self.hours[hour] = StoreHour()
        return h

    def _day(self, day: int) -> StoreDay | None:
        if day <= self.evicted_day:
            return None
        d = self.days.get(day)
        if d is None:
            d = self.days[day] = StoreDay()
        return d

    # -- folding ---------------------------------------------------------------

    def apply(self, facts: list[Fact], now: int) -> TableRows:
        """Fold facts in; return current rows of every touched window (+ late rows)."""
        out = TableRows()
        if not self.store_id and facts:
            self.store_id = facts[0].store_id
        grid_changed = False
        for f in facts:
            if self.clock is None or f.ts > self.clock:
                self.clock = f.ts
            hour = f.ts - f.ts % HOUR_MS
            if f.kind in ("heartbeat", "feedback", "sighting", "utterance", "interaction"):
                window_gone = (
                    self.day_start(f.ts) <= self.evicted_day
                    if f.kind in ("feedback", "sighting")
                    else hour <= self.evicted_hour
                )
                if window_gone:
                    out.add(self._evicted_row(f, now))
                    continue
            if f.kind == "activity":
                h = self._hour(f.ts)
                if h is not None and f.device_id not in h.devices:
                    h.devices.add(f.device_id)
                    self._dirty_hours.add(f.ts)
            elif f.kind == "utterance":
                self._utterance(f, hour)
            elif f.kind == "sighting":
                day = self.day_start(f.ts)
                d = self._day(day)
                assert d is not None and isinstance(f.data, tuple)
                for brand in f.data:
                    d.brand(brand)[1] += 1
                    self._dirty_days.setdefault(day, set()).add(brand)
            elif f.kind == "interaction":
                self._interaction(f, hour)
            elif f.kind == "heartbeat":
                grid_changed |= self._heartbeat(f, hour)
            elif f.kind == "feedback":
                self._feedback(f)
        if grid_changed:
            self._fill_device_grid()
        self._evict(out, now)
        self._emit(out, now)
        return out

    def _utterance(self, f: Fact, hour: int) -> None:
        assert isinstance(f.data, tuple)
        note: Annotation = f.data[0]
        lang: str = f.data[1]
        h = self._hour(hour)
        assert h is not None
        h.utterance_sentiments.append(note.sentiment)
        if note.sentiment > 0:
            h.positive += 1
        elif note.sentiment < 0:
            h.negative += 1
        h.langs[lang] += 1
        self._dirty_sentiment.add(hour)
        if note.brands:
            day = self.day_start(f.ts)
            d = self._day(day)
            assert d is not None
            for brand in note.brands:
                d.brand(brand)[0] += 1
                self._dirty_days.setdefault(day, set()).add(brand)

    def _interaction(self, f: Fact, hour: int) -> None:
        it = f.data
        assert isinstance(it, Interaction)
        if not it.has_vision:
            return
        h = self._hour(hour)
        assert h is not None
        h.dwell_s.append(it.dwell_ms / 1000)
        h.greeted += it.greeted
        if it.has_speech:
            h.speech_sentiments.append(it.sentiment)
        h.mentions.update(it.brands_mentioned)
        self._dirty_hours.add(hour)
        involved = set(it.brands_mentioned) | set(it.brands_seen)
        if involved:
            day = self.day_start(f.ts)
            d = self._day(day)
            if d is None:
                return
            for brand in involved:
                d.brand(brand)[2] += 1
                self._dirty_days.setdefault(day, set()).add(brand)

    def _heartbeat(self, f: Fact, hour: int) -> bool:
        hb = f.data
        assert isinstance(hb, HeartbeatV1)
        grid_changed = False
        if f.device_id not in self.devices:
            self.devices[f.device_id] = DeviceInfo()
        if self.hb_hour_max is None or hour > self.hb_hour_max:
            self.hb_hour_max = hour
            grid_changed = True
        key = (f.device_id, hour)
        dh = self.device_hours.get(key)
        if dh is None:
            dh = self.device_hours[key] = DeviceHour()
        if not dh.received:
            grid_changed = True  # a new heartbeat hour: OFFLINE hours may follow it
        dh.received += 1
        dh.min_interval = min(dh.min_interval, hb.interval_s)
        dh.cpu.append(hb.cpu_pct)
        dh.cpu_max = max(dh.cpu_max, hb.cpu_pct)
        dh.mem_max = max(dh.mem_max, hb.mem_pct)
        if hb.cpu_temp_c is not None:
            dh.temp_max = hb.cpu_temp_c if dh.temp_max is None else max(dh.temp_max, hb.cpu_temp_c)
        dh.disk_min = min(dh.disk_min, hb.disk_free_mb)
        dh.outbox_max = max(dh.outbox_max, hb.outbox_depth)
        latest: Latest = (f.ts, f.event_id, hb.interval_s, dict(hb.models), hb.sw_version)
        if dh.latest is None or latest[:2] > dh.latest[:2]:
            dh.latest = latest
        self._dirty_device_hours.add(key)
        # Empty (OFFLINE) hours after this one, up to the next heartbeat hour, report
        # "latest heartbeat before": refresh them (at most offline_rows_h of them exist).
        last = min(self.hb_hour_max, hour + self.cfg.offline_rows_h * HOUR_MS)
        for later in range(hour + HOUR_MS, last + 1, HOUR_MS):
            other = self.device_hours.get((f.device_id, later))
            if other is not None and other.received:
                break
            if other is not None:
                self._dirty_device_hours.add((f.device_id, later))
        return grid_changed

    def _feedback(self, f: Fact) -> None:
        fb = f.data
        assert isinstance(fb, FeedbackV1)
        day = self.day_start(f.ts)
        d = self._day(day)
        assert d is not None
        d.feedback.setdefault(fb.insight_type, [0, 0, 0])[_FEEDBACK_INDEX[fb.action]] += 1
        self._dirty_feedback.setdefault(day, set()).add(fb.insight_type)

    def _fill_device_grid(self) -> None:
        """Create the OFFLINE hours after each heartbeat hour (at most ``offline_rows_h``
        of them, up to the next heartbeat hour and the store's newest heartbeat hour)."""
        if self.hb_hour_max is None:
            return
        beats: dict[str, list[int]] = {}
        for (device, hour), dh in self.device_hours.items():
            if dh.received:
                beats.setdefault(device, []).append(hour)
        for device, info in self.devices.items():
            hours = beats.get(device, [])
            if info.evicted_latest is not None:
                ts = info.evicted_latest[0]
                hours.append(ts - ts % HOUR_MS)
            hours.sort()
            for i, beat in enumerate(hours):
                stop = min(
                    hours[i + 1] if i + 1 < len(hours) else self.hb_hour_max + HOUR_MS,
                    beat + (self.cfg.offline_rows_h + 1) * HOUR_MS,
                    self.hb_hour_max + HOUR_MS,
                )
                for hour in range(max(beat + HOUR_MS, self.evicted_hour + HOUR_MS), stop, HOUR_MS):
                    key = (device, hour)
                    if key not in self.device_hours:
                        self.device_hours[key] = DeviceHour()
                        self._dirty_device_hours.add(key)

    # -- eviction --------------------------------------------------------------

    def _evict(self, out: TableRows, now: int) -> None:
        if self.clock is None:
            return
        horizon = self.clock - self.cfg.gold_retention_ms
        old_hours = [h for h in self.hours if h + HOUR_MS <= horizon]
        if old_hours:
            self._emit(out, now)  # never lose a pending update
            for h in old_hours:
                del self.hours[h]
            self.evicted_hour = max(self.evicted_hour, *old_hours)
        old_dh = [k for k in self.device_hours if k[1] + HOUR_MS <= horizon]
        if old_dh:
            self._emit(out, now)
            for key in sorted(old_dh, key=lambda k: k[1]):
                dh = self.device_hours.pop(key)
                info = self.devices[key[0]]
                if dh.latest is not None and (info.evicted_latest is None or dh.latest[:2] > info.evicted_latest[:2]):
                    info.evicted_latest = dh.latest
            self.evicted_hour = max(self.evicted_hour, *(k[1] for k in old_dh))
        old_days = [d for d in self.days if d + DAY_MS <= horizon]
        if old_days:
            self._emit(out, now)
            for d in old_days:
                del self.days[d]
            self.evicted_day = max(self.evicted_day, *old_days)

    def _evicted_row(self, f: Fact, now: int) -> LateRow:
        return LateRow(
            topic="",
            partition=-1,
            offset=-1,
            record_ts=f.ts,
            key="",
            stream=f.kind,
            event_id=f.event_id,
            device_id=f.device_id,
            store_id=f.store_id,
            ts=f.ts,
            watermark=self.evicted_hour,
            reason="gold window already evicted (older than gold retention)",
            payload=b"",
            detected_at=now,
        )

    # -- rows ------------------------------------------------------------------

    def _latest_before(self, device: str, hour: int) -> Latest | None:
        best = self.devices[device].evicted_latest
        for (dev, h), dh in self.device_hours.items():
            if dev == device and h < hour and dh.latest is not None and (best is None or dh.latest[:2] > best[:2]):
                best = dh.latest
        return best

    def _emit(self, out: TableRows, now: int) -> None:
        for hour in sorted(self._dirty_hours):
            out.add(self._interaction_row(hour, now))
        for hour in sorted(self._dirty_sentiment):
            out.add(self._sentiment_row(hour, now))
        for day, brands in sorted(self._dirty_days.items()):
            d = self.days[day]
            for brand in sorted(brands):
                m, s, i = d.brands[brand]
                out.add(BrandRow(self.store_id, self._date(day), brand, day, day + DAY_MS, m, s, i, now))
        for day, types in sorted(self._dirty_feedback.items()):
            d = self.days[day]
            for kind in sorted(types):
                a, dis, s = d.feedback[kind]
                out.add(
                    FeedbackRow(
                        store_id=self.store_id,
                        day=self._date(day),
                        insight_type=kind,
                        window_start=day,
                        window_end=day + DAY_MS,
                        accepted=a,
                        dismissed=dis,
                        snoozed=s,
                        acceptance_rate=a / (a + dis + s),
                        updated_at=now,
                    )
                )
        for key in sorted(self._dirty_device_hours):
            out.add(self._device_row(key, now))
        self._dirty_hours.clear()
        self._dirty_sentiment.clear()
        self._dirty_days.clear()
        self._dirty_feedback.clear()
        self._dirty_device_hours.clear()

    def _date(self, day: int) -> date:
        return datetime.fromtimestamp(day / 1000, ZoneInfo(self.cfg.day_timezone)).date()

    def _interaction_row(self, hour: int, now: int) -> StoreInteractionsRow:
        h = self.hours[hour]
        n = len(h.dwell_s)
        dwell = sorted(h.dwell_s)
        p90 = dwell[math.ceil(0.9 * n) - 1] if n else 0.0
        speech = len(h.speech_sentiments)
        return StoreInteractionsRow(
            self.store_id, hour, hour + HOUR_MS, n, _mean(dwell), p90,
            h.greeted, h.greeted / n if n else 0.0, speech, speech / n if n else 0.0,
            dict(h.mentions), _mean(h.speech_sentiments), len(h.devices), now,
        )  # fmt: skip

    def _sentiment_row(self, hour: int, now: int) -> SentimentRow:
        h = self.hours[hour]
        n = len(h.utterance_sentiments)
        return SentimentRow(
            self.store_id, hour, hour + HOUR_MS, n, h.positive, n - h.positive - h.negative, h.negative,
            _mean(h.utterance_sentiments), dict(h.langs), now,
        )  # fmt: skip

    def _device_row(self, key: tuple[str, int], now: int) -> DeviceHealthRow:
        device, hour = key
        dh = self.device_hours[key]
        cfg = self.cfg
        if dh.received:
            expected = max(1, int(3600 // dh.min_interval))
            latest = dh.latest
            assert latest is not None
            ratio = dh.received / expected
            status = "HEALTHY" if ratio >= cfg.healthy_ratio else "STALE"
            return DeviceHealthRow(
                device, hour, hour + HOUR_MS, self.store_id, dh.received, expected,
                min(100.0, 100.0 * ratio), _mean(dh.cpu), dh.cpu_max, dh.mem_max, dh.temp_max,
                dh.disk_min, dh.outbox_max, latest[3], latest[4], latest[0], status, now,
            )  # fmt: skip
        before = self._latest_before(device, hour)
        expected = max(1, int(3600 // before[2])) if before else 1
        return DeviceHealthRow(
            device, hour, hour + HOUR_MS, self.store_id, 0, expected, 0.0, 0.0, 0.0, 0.0, None, 0.0, 0,
            before[3] if before else {}, before[4] if before else "", before[0] if before else None,
            "OFFLINE", now,
        )  # fmt: skip


def _mean(values: list[float]) -> float:
    """Exactly rounded mean (``math.fsum``): the same bits whatever the arrival order."""
    return math.fsum(values) / len(values) if values else 0.0
