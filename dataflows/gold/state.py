"""The data of one store's gold windows: aggregates per hour, day and device hour, and the snapshot.

Plain containers that :class:`~dataflows.gold.windows.StoreGold` folds facts into;
each has a ``copy`` that shares nothing mutable, which is what a snapshot is made of.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import msgspec

from dataflows.rule_tally import Blocks, ScopeRule

#: Version of :class:`GoldState`; a recovery store holding another is refused (exit 2).
#: 2: device clocks (the store clock, dataflows/gold/store_clock.py); 3: clock_skew counts; 4: skewed heartbeats
GOLD_STATE_VERSION = 4


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

    def copy(self) -> StoreHour:
        return StoreHour(
            set(self.devices), list(self.dwell_s), self.greeted, list(self.speech_sentiments),
            Counter(self.mentions), self.positive, self.negative, list(self.utterance_sentiments),
            Counter(self.langs),
        )  # fmt: skip


@dataclass(slots=True)
class StoreDay:
    #: brand -> [mentions, sightings, interactions]
    brands: dict[str, list[int]] = field(default_factory=dict)
    #: insight type -> [accepted, dismissed, snoozed]
    feedback: dict[str, list[int]] = field(default_factory=dict)

    def brand(self, name: str) -> list[int]:
        return self.brands.setdefault(name, [0, 0, 0])

    def copy(self) -> StoreDay:
        return StoreDay({k: list(v) for k, v in self.brands.items()}, {k: list(v) for k, v in self.feedback.items()})


class Latest(msgspec.Struct, frozen=True, gc=False):
    """The latest heartbeat known of a device (what an ``OFFLINE`` hour reports)."""

    ts: int
    event_id: str
    interval_s: float
    models: dict[str, str]
    sw_version: str

    def newer_than(self, other: Latest | None) -> bool:
        return other is None or (self.ts, self.event_id) > (other.ts, other.event_id)


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
    #: heartbeats outside the store clock's tolerance (dataflows/gold/store_clock.py)
    skewed: int = 0

    def copy(self) -> DeviceHour:
        return DeviceHour(
            self.received, self.min_interval, list(self.cpu), self.cpu_max, self.mem_max, self.temp_max,
            self.disk_min, self.outbox_max, self.latest, self.skewed,
        )  # fmt: skip


@dataclass(slots=True)
class DeviceInfo:
    #: Latest heartbeat among hours already evicted from memory.
    evicted_latest: Latest | None = None


@dataclass(frozen=True, slots=True)
class GoldState:
    """A :class:`~dataflows.gold.windows.StoreGold`'s data at a snapshot: a copy the windows never change."""

    store_id: str
    hours: dict[int, StoreHour]
    days: dict[int, StoreDay]
    device_hours: dict[tuple[str, int], DeviceHour]
    #: device → the latest heartbeat among its hours already evicted
    evicted_latest: dict[str, Latest | None]
    clock: int | None
    hb_hour_max: int | None
    evicted_hour: int
    evicted_day: int
    #: device → the newest time it reported (any fact), and the newest hour it sent a heartbeat in
    device_clocks: dict[str, int]
    device_beats: dict[str, int]
    #: the clock_skew rule's counts of the newest blocks of each device's heartbeats (dataflows/rule_tally.py)
    rule_counts: dict[ScopeRule, Blocks] = field(default_factory=dict)
    version: int = GOLD_STATE_VERSION
