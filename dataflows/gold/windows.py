"""Gold tumbling windows per store (hours in UTC, days in the configured zone).

:class:`StoreGold` folds :data:`~dataflows.silver.facts.Fact` s into window
aggregates and, after each batch, returns the *complete* current row of every
window the batch touched. Rows carry a ``version`` derived from the data (below); the
tables are ``ReplacingMergeTree(version)`` keyed by window, so the row that has taken in
the most facts replaces the older ones (an update, a resume), and ``updated_at`` (wall
clock) only says when a row was written.

Its recovery snapshot is a :class:`GoldState`: a versioned copy of the window
aggregates and the eviction marks, without the configuration (a resumed run
applies its own) or anything derived (the day cache, the set of windows to
emit, which is empty between batches).

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
  heartbeat hour — the work and the rows are bounded by the data, never
  by empty calendar time;
* the store's clock (eviction) and heartbeat hour: the newest device clock near
  the median one of the store's voting devices (:mod:`dataflows.gold.store_clock`), so no single
  device's clock moves them; a device retired from the vote (``device_retire_h`` behind both),
  whose OFFLINE rows are all written and evicted, leaves the state;
  ``heartbeats_expected`` = ⌊3600 / smallest
  ``interval_s``⌋ (for an empty hour: of the device's latest earlier heartbeat); ``skewed_heartbeats``:
  the hour's heartbeats that failed ``clock_skew`` (from the store clock's vote);
* ``version`` grows with every fact a row takes in: the row with the most facts wins in any write
  order (docs/architecture.md, "Effectively once"; ``RECEIVED_VERSION``: heartbeat hours first);
* sentiment: an utterance is positive / negative / neutral by the sign of its
  lexicon score.
"""

from __future__ import annotations

import math
from datetime import date
from zoneinfo import ZoneInfo

from dataflows.config import WindowConfig
from dataflows.gold.state import DeviceHour, DeviceInfo, GoldState, Latest, StoreDay, StoreHour
from dataflows.gold.store_clock import StoreClock
from dataflows.rule_tally import RuleTally
from dataflows.silver.facts import (
    ActivityFact,
    Fact,
    FeedbackFact,
    HeartbeatFact,
    InteractionFact,
    SightingFact,
    UtteranceFact,
)
from dataflows.tables import (
    BrandRow,
    DeviceHealthRow,
    FeedbackRow,
    LateRow,
    SentimentRow,
    StoreInteractionsRow,
    TableRows,
)
from dataflows.timegrid import HOUR_MS, Days, hour_start

#: Versions of device hours with heartbeats start here (above any ``OFFLINE`` row's: a time in ms).
RECEIVED_VERSION = 1 << 52

_FEEDBACK_INDEX = {"accepted": 0, "dismissed": 1, "snoozed": 2}


class StoreGold:
    """Gold window state for one store; :meth:`snapshot` and :meth:`restore` move its data across a resume."""

    def __init__(self, store_id: str, cfg: WindowConfig) -> None:
        self.store_id = store_id
        self.cfg = cfg
        self._days = Days(ZoneInfo(cfg.day_timezone))
        self.hours: dict[int, StoreHour] = {}
        self.days: dict[int, StoreDay] = {}
        self.device_hours: dict[tuple[str, int], DeviceHour] = {}
        self.devices: dict[str, DeviceInfo] = {}
        #: the store clock (eviction) and the store's heartbeat hour (OFFLINE rows): store_clock.py
        self.clocks = StoreClock(store_id, cfg.clock_skew_ms, cfg.device_retire_ms)
        self.evicted_hour: int = -1  # hours <= this are gone
        self.evicted_day: int = -1
        self._dirty_hours: set[int] = set()
        self._dirty_sentiment: set[int] = set()
        self._dirty_days: dict[int, set[str]] = {}
        self._dirty_feedback: dict[int, set[str]] = {}
        self._dirty_device_hours: set[tuple[str, int]] = set()

    # -- snapshots -------------------------------------------------------------

    def snapshot(self) -> GoldState:
        """A copy of the data (what Bytewax pickles, possibly later: nothing in it is shared)."""
        return GoldState(
            self.store_id,
            {h: w.copy() for h, w in self.hours.items()},
            {d: w.copy() for d, w in self.days.items()},
            {k: w.copy() for k, w in self.device_hours.items()},
            {device: info.evicted_latest for device, info in self.devices.items()},
            self.clocks.clock,
            self.clocks.beat_hour,
            self.evicted_hour,
            self.evicted_day,
            dict(self.clocks.device_clocks),
            dict(self.clocks.device_beats),
            self.clocks.tally.copy(),
        )

    def restore(self, state: GoldState) -> None:
        """Take the data of a snapshot (copied again: the snapshot stays as it was)."""
        self.store_id = state.store_id
        self.hours = {h: w.copy() for h, w in state.hours.items()}
        self.days = {d: w.copy() for d, w in state.days.items()}
        self.device_hours = {k: w.copy() for k, w in state.device_hours.items()}
        self.devices = {device: DeviceInfo(latest) for device, latest in state.evicted_latest.items()}
        self.clocks = clocks = StoreClock(state.store_id, self.cfg.clock_skew_ms, self.cfg.device_retire_ms)
        clocks.clock, clocks.beat_hour = state.clock, state.hb_hour_max
        self.evicted_hour, self.evicted_day = state.evicted_hour, state.evicted_day
        clocks.device_clocks, clocks.device_beats = dict(state.device_clocks), dict(state.device_beats)
        clocks.tally = RuleTally(state.rule_counts)

    # -- windows ---------------------------------------------------------------

    def day_start(self, ts: int) -> int:
        """Start of the local day holding ``ts`` (local midnight in ``day_timezone``)."""
        return self._days.start(ts)

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
            self.store_id = self.clocks.store_id = facts[0].store_id
        grid_changed = False
        clocks = self.clocks
        for f in facts:
            clocks.saw(f.device_id, f.ts)
            hour = hour_start(f.ts)
            if not isinstance(f, ActivityFact):
                window_gone = (
                    self.day_start(f.ts) <= self.evicted_day
                    if isinstance(f, FeedbackFact | SightingFact)
                    else hour <= self.evicted_hour
                )
                if window_gone:
                    out.add(self._evicted_row(f, now))
                    continue
            match f:
                case ActivityFact():
                    h = self._hour(f.ts)
                    if h is not None and f.device_id not in h.devices:
                        h.devices.add(f.device_id)
                        self._dirty_hours.add(f.ts)
                case UtteranceFact():
                    self._utterance(f, hour)
                case SightingFact(brands=brands):
                    day = self.day_start(f.ts)
                    d = self._day(day)
                    assert d is not None
                    for brand in brands:
                        d.brand(brand)[1] += 1
                        self._dirty_days.setdefault(day, set()).add(brand)
                case InteractionFact():
                    self._interaction(f, hour)
                case HeartbeatFact():
                    grid_changed |= self._heartbeat(f, hour)
                case FeedbackFact():
                    self._feedback(f)
        dq_rows, skewed = clocks.vote(now)
        out.extend(dq_rows)
        for key, n in skewed.items():
            self.device_hours[key].skewed += n  # the batch's heartbeats of that hour made it
            self._dirty_device_hours.add(key)
        if grid_changed:
            self._fill_device_grid()
        self._evict(out, now)
        self._emit(out, now)
        return out

    def _utterance(self, f: UtteranceFact, hour: int) -> None:
        note, lang = f.note, f.lang
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

    def _interaction(self, f: InteractionFact, hour: int) -> None:
        it = f.interaction
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

    def _heartbeat(self, f: HeartbeatFact, hour: int) -> bool:
        hb = f.heartbeat
        grid_changed = False
        if f.device_id not in self.devices:
            self.devices[f.device_id] = DeviceInfo()
        if self.clocks.beat(f.device_id, hour, f.ts):
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
        latest = Latest(f.ts, f.event_id, hb.interval_s, dict(hb.models), hb.sw_version)
        if latest.newer_than(dh.latest):
            dh.latest = latest
        self._dirty_device_hours.add(key)
        # Empty (OFFLINE) hours after this one, up to the next heartbeat hour, report
        # "latest heartbeat before": refresh them (at most offline_rows_h of them exist).
        store_hour = hour if self.clocks.beat_hour is None else self.clocks.beat_hour
        last = min(store_hour, hour + self.cfg.offline_rows_h * HOUR_MS)
        for later in range(hour + HOUR_MS, last + 1, HOUR_MS):
            other = self.device_hours.get((f.device_id, later))
            if other is not None and other.received:
                break
            if other is not None:
                self._dirty_device_hours.add((f.device_id, later))
        return grid_changed

    def _feedback(self, f: FeedbackFact) -> None:
        fb = f.feedback
        day = self.day_start(f.ts)
        d = self._day(day)
        assert d is not None
        d.feedback.setdefault(fb.insight_type, [0, 0, 0])[_FEEDBACK_INDEX[fb.action]] += 1
        self._dirty_feedback.setdefault(day, set()).add(fb.insight_type)

    def _fill_device_grid(self) -> None:
        """Create the OFFLINE hours after each heartbeat hour (at most ``offline_rows_h``
        of them, up to the next heartbeat hour and the store's newest heartbeat hour)."""
        store_hour = self.clocks.beat_hour
        if store_hour is None:
            return
        beats: dict[str, list[int]] = {}
        for (device, hour), dh in self.device_hours.items():
            if dh.received:
                beats.setdefault(device, []).append(hour)
        for device, info in self.devices.items():
            hours = beats.get(device, [])
            if info.evicted_latest is not None:
                hours.append(hour_start(info.evicted_latest.ts))
            hours.sort()
            for i, beat in enumerate(hours):
                stop = min(
                    hours[i + 1] if i + 1 < len(hours) else store_hour + HOUR_MS,
                    beat + (self.cfg.offline_rows_h + 1) * HOUR_MS,
                    store_hour + HOUR_MS,
                )
                for hour in range(max(beat + HOUR_MS, self.evicted_hour + HOUR_MS), stop, HOUR_MS):
                    key = (device, hour)
                    if key not in self.device_hours:
                        self.device_hours[key] = DeviceHour()
                        self._dirty_device_hours.add(key)

    # -- eviction --------------------------------------------------------------

    def _evict(self, out: TableRows, now: int) -> None:
        if self.clocks.clock is None:
            return
        horizon = self.clocks.clock - self.cfg.gold_retention_ms
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
                if dh.latest is not None and dh.latest.newer_than(info.evicted_latest):
                    info.evicted_latest = dh.latest
            self.evicted_hour = max(self.evicted_hour, *(k[1] for k in old_dh))
        old_days = [d for d in self.days if self._days.end(d) <= horizon]
        if old_days:
            self._emit(out, now)
            for d in old_days:
                del self.days[d]
            self.evicted_day = max(self.evicted_day, *old_days)
        if old_hours or old_dh:
            self._forget_retired()

    def _forget_retired(self) -> None:
        """Devices retired from the vote whose OFFLINE rows are all written and evicted leave the state."""
        clocks, held = self.clocks, {device for device, _ in self.device_hours}
        for device in sorted((set(clocks.device_clocks) | set(self.devices)) - held):
            beat = clocks.device_beats.get(device)
            last_offline = None if beat is None else beat + self.cfg.offline_rows_h * HOUR_MS
            if clocks.retired(device) and (last_offline is None or last_offline <= (clocks.beat_hour or 0)):
                self.devices.pop(device, None)
                clocks.forget(device)

    def _evicted_row(self, f: Fact, now: int) -> LateRow:
        return LateRow(
            topic="",
            partition=-1,
            offset=-1,
            record_ts=f.ts,
            key="",
            stream=type(f).kind,
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
            if dev == device and h < hour and dh.latest is not None and dh.latest.newer_than(best):
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
                out.add(BrandRow(self.store_id, self._date(day), brand, day, self._days.end(day), m, s, i, now,
                                 m + s + i))  # fmt: skip
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
                        window_end=self._days.end(day),
                        accepted=a,
                        dismissed=dis,
                        snoozed=s,
                        acceptance_rate=a / (a + dis + s),
                        updated_at=now,
                        version=a + dis + s,
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
        return self._days.date(day)

    def _interaction_row(self, hour: int, now: int) -> StoreInteractionsRow:
        h = self.hours[hour]
        n = len(h.dwell_s)
        dwell = sorted(h.dwell_s)
        p90 = dwell[math.ceil(0.9 * n) - 1] if n else 0.0
        speech = len(h.speech_sentiments)
        return StoreInteractionsRow(
            self.store_id, hour, hour + HOUR_MS, n, _mean(dwell), p90,
            h.greeted, h.greeted / n if n else 0.0, speech, speech / n if n else 0.0,
            dict(h.mentions), _mean(h.speech_sentiments), len(h.devices), now, n + len(h.devices),
        )  # fmt: skip

    def _sentiment_row(self, hour: int, now: int) -> SentimentRow:
        h = self.hours[hour]
        n = len(h.utterance_sentiments)
        return SentimentRow(
            self.store_id, hour, hour + HOUR_MS, n, h.positive, n - h.positive - h.negative, h.negative,
            _mean(h.utterance_sentiments), dict(h.langs), now, n,
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
                device, hour, hour + HOUR_MS, self.store_id, dh.received, expected, dh.skewed,
                min(100.0, 100.0 * ratio), _mean(dh.cpu), dh.cpu_max, dh.mem_max, dh.temp_max,
                dh.disk_min, dh.outbox_max, latest.models, latest.sw_version, latest.ts, status, now,
                RECEIVED_VERSION + dh.received,
            )  # fmt: skip
        before = self._latest_before(device, hour)
        expected = max(1, int(3600 // before.interval_s)) if before else 1
        return DeviceHealthRow(
            device, hour, hour + HOUR_MS, self.store_id, 0, expected, 0, 0.0, 0.0, 0.0, 0.0, None, 0.0, 0,
            before.models if before else {}, before.sw_version if before else "", before.ts if before else None,
            "OFFLINE", now, before.ts if before else 0,
        )  # fmt: skip


def _mean(values: list[float]) -> float:
    """Exactly rounded mean (``math.fsum``): the same bits whatever the arrival order."""
    return math.fsum(values) / len(values) if values else 0.0
