"""A store's clock, which no single device controls (docs/architecture.md, "Store clock").

A Pi has no real-time clock, and it stamps both the event time and the record timestamp: a device
whose clock is days ahead would, as the newest time of its store, evict its store-mates' gold
windows and give them OFFLINE rows; a device days behind must not hold anything back either. Each
device has a clock (the newest time it reported); the store's clock is the newest device clock
within ``tolerance`` of the *median* clock of the store's voting devices (the lower median: with two
devices, the older one, because a clock too far ahead evicts windows, which loses data, while one
behind only keeps them longer). A device further than ``tolerance`` from that median is an *outlier*:
its events still count in their own windows, but its clock moves nothing, and its heartbeats are
counted under the ``clock_skew`` rule.

Devices *retire* from the vote: a device whose clock is more than ``retire`` behind the store's clock
does not vote (a store that loses most of its devices would otherwise be held by the dead ones'
median, and its live device counted as skewed). It votes again as soon as its clock is within
``retire`` of the store's. ``retire`` is below ``tolerance`` (settings refuse it otherwise), so the
store's clock, following its live devices within the tolerance, always gets far enough ahead of the
dead ones to retire them. :func:`advance` repeats the vote until the clock stays put.

What it cannot do: out-vote with two devices (there is no majority: the older clock wins, and no
heartbeat is counted as skewed while fewer than three devices vote). A live run
quarantines a clock ahead of the present (``ts_not_after_ingest``); topics with
``message.timestamp.type=LogAppendTime`` give ``ts_not_in_future`` the broker's clock to compare with.

The same rule is written in SQL in ``clickhouse/verify/gold_device_health_summary.sql``.

>>> HOUR = 3_600_000
>>> store_clock([10 * HOUR, 11 * HOUR, 83 * HOUR], tolerance_ms=24 * HOUR) // HOUR  # one device 3 days ahead
11
>>> store_clock([-62 * HOUR, 10 * HOUR, 11 * HOUR, 83 * HOUR], tolerance_ms=24 * HOUR) // HOUR
11
>>> store_clock([10 * HOUR, 83 * HOUR], tolerance_ms=24 * HOUR) // HOUR  # two devices: the older one
10
>>> store_clock([], tolerance_ms=HOUR) is None
True

Two of three devices went silent at hour 0 and the third has reached hour 13: the silent ones retire
(13 h behind the store's clock, more than 12 h), so the live device alone moves the clock.

>>> advance([0, 0, 13 * HOUR], 12 * HOUR, tolerance_ms=24 * HOUR, retire_ms=12 * HOUR) // HOUR
13

What the vote cannot tell apart: a whole store silent for longer than ``tolerance`` whose devices do not
mostly come back. The one that returns jumps ahead of the silent majority, as a clock days ahead would;
the store's clock stays with the silent ones (the returning device's rows are written, its heartbeats
count as skewed, the store's windows are not evicted) until the majority reports again.

>>> advance([0, 0, 30 * HOUR], 0, tolerance_ms=24 * HOUR, retire_ms=12 * HOUR)
0
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection

import structlog

from dataflows.rule_tally import RuleTally, key_scope
from dataflows.tables import DqRow
from dataflows.timegrid import HOUR_MS

log = structlog.get_logger(__name__)

#: The rule heartbeats are counted under in ``dq_rule_metrics``: failed = from a device outside the
#: tolerance of its store's median heartbeat hour.
CLOCK_SKEW_RULE = "clock_skew"
#: Voting devices needed before a heartbeat is judged outside the tolerance (two cannot out-vote each other).
MAJORITY = 3
_CLOCK_SKEW_KEY = ("heartbeat", CLOCK_SKEW_RULE, "warn")


def median_clock(clocks: Collection[int]) -> int | None:
    """The lower median of the device clocks (``None`` for no device)."""
    if not clocks:
        return None
    ordered = sorted(clocks)
    return ordered[(len(ordered) - 1) // 2]


def store_clock(clocks: Collection[int], tolerance_ms: int) -> int | None:
    """The newest device clock within ``tolerance_ms`` of the median one (``None`` for no device)."""
    median = median_clock(clocks)
    if median is None:
        return None
    return max(c for c in clocks if c - median <= tolerance_ms)


def voters(clocks: Collection[int], current: int | None, retire_ms: int) -> list[int]:
    """The clocks that vote: those not more than ``retire_ms`` behind the store's ``current`` clock."""
    if current is None:
        return list(clocks)
    return [c for c in clocks if c >= current - retire_ms]


def advance(clocks: Collection[int], current: int | None, tolerance_ms: int, retire_ms: int) -> int | None:
    """The store's clock once device ``clocks`` moved: it only moves forward (the rows it let out are
    written), and the vote is repeated until it stays put (a move may retire devices, which may move it
    again)."""
    while True:
        clock = store_clock(voters(clocks, current, retire_ms), tolerance_ms)
        if clock is None or (current is not None and clock <= current):
            return current
        current = clock


def is_outlier(clock: int, median: int | None, tolerance_ms: int) -> bool:
    """Whether a device clock is further than ``tolerance_ms`` from the store's median clock."""
    return median is not None and abs(clock - median) > tolerance_ms


class StoreClock:
    """A store's two clocks and the device clocks that vote on them (part of the store's gold state).

    ``clock`` (from every fact's time) drives eviction; ``beat_hour`` (from heartbeat hours) is the last
    hour that gets ``OFFLINE`` rows. After each batch, both are :func:`advance` d at every point where a
    device's clock (heartbeat) entered a newer hour, in time order: a batch of a replay can span many
    hours of a store, and one vote at its end would see a live device jump hours ahead of the dead ones
    and count it as skewed, while a vote as facts come would see them grouped by device, not by time.
    The batch oracle in ``clickhouse/verify`` sweeps the same way over the whole input.
    """

    def __init__(self, store_id: str, tolerance_ms: int, retire_ms: int) -> None:
        self.store_id = store_id
        self.tolerance_ms, self.retire_ms = tolerance_ms, retire_ms
        #: device → the newest time it reported (any fact), and the newest hour it sent a heartbeat in
        self.device_clocks: dict[str, int] = {}
        self.device_beats: dict[str, int] = {}
        self.clock: int | None = None
        self.beat_hour: int | None = None
        self.tally = RuleTally()  # the clock_skew rule's counts per device
        self._skewed: set[str] = set()  # devices reported as outliers (derived: reported again after a resume)
        # within a batch: the clocks before it, (time, device) where a clock entered a newer hour,
        # and (time, device, hour) of every heartbeat
        self._clocks_before: dict[str, int] = {}
        self._beats_before: dict[str, int] = {}
        self._clock_steps: list[tuple[int, str]] = []
        self._beat_steps: list[tuple[int, str, int]] = []

    def saw(self, device: str, ts: int) -> None:
        """A fact of ``device`` at ``ts``."""
        before = self.device_clocks.get(device)
        if before is None or ts > before:
            if before is None or ts - ts % HOUR_MS > before - before % HOUR_MS:
                if not self._clock_steps:
                    self._clocks_before = dict(self.device_clocks)
                self._clock_steps.append((ts, device))
            self.device_clocks[device] = ts

    def beat(self, device: str, hour: int, ts: int) -> bool:
        """A heartbeat of ``device`` at ``ts`` in ``hour``: whether that is the device's newest heartbeat
        hour yet (the store's heartbeat hour follows after the batch, :meth:`vote`)."""
        if not self._beat_steps:
            self._beats_before = dict(self.device_beats)
        self._beat_steps.append((ts, device, hour))
        before = self.device_beats.get(device)
        if before is None or hour > before:
            self.device_beats[device] = hour
            return True
        return False

    def _sweep_clocks(self) -> None:
        clocks = dict(self._clocks_before) if self._clock_steps else {}
        for ts, device in sorted(self._clock_steps):
            clocks[device] = max(clocks.get(device, ts), ts)
            self.clock = advance(clocks.values(), self.clock, self.tolerance_ms, self.retire_ms)
        self._clock_steps.clear()

    def _sweep_beats(self) -> tuple[dict[str, list[bool]], Counter[tuple[str, int]], int | None]:
        """The store's heartbeat hour advanced at each of the batch's heartbeats, in time order. Returns each
        device's verdicts (its heartbeat hour within the tolerance of the voters' median at that point, in
        that order), the failed ones per (device, heartbeat hour), and the median at the end."""
        tolerance, retire = self.tolerance_ms, self.retire_ms
        beats = dict(self._beats_before) if self._beat_steps else {}
        verdicts: dict[str, list[bool]] = {}
        skewed: Counter[tuple[str, int]] = Counter()
        voting = voters(beats.values(), self.beat_hour, retire)
        median = median_clock(voting)
        for _ts, device, hour in sorted(self._beat_steps):
            if hour > beats.get(device, hour - 1):  # the vote changes only when a heartbeat hour does
                beats[device] = hour
                self.beat_hour = advance(beats.values(), self.beat_hour, tolerance, retire)
                voting = voters(beats.values(), self.beat_hour, retire)
                median = median_clock(voting)
            # an outlier needs a majority against it: with fewer than three voters, none is flagged
            inside = len(voting) < MAJORITY or not is_outlier(beats[device], median, tolerance)
            verdicts.setdefault(device, []).append(inside)
            if not inside:
                skewed[device, hour] += 1
        self._beat_steps.clear()
        return verdicts, skewed, median

    def vote(self, now: int) -> tuple[list[DqRow], Counter[tuple[str, int]]]:
        """After a batch: both clocks advanced; returns the ``clock_skew`` rule's rows for the batch's
        heartbeats and the number outside the tolerance per (device, heartbeat hour). One log line per
        device whose newest heartbeat is outside the tolerance and was not before."""
        self._sweep_clocks()
        verdicts, skewed, median = self._sweep_beats()
        for device, device_verdicts in sorted(verdicts.items()):
            self.tally.evaluate(key_scope(device), _CLOCK_SKEW_KEY, device_verdicts)
        failing = {device for device, v in verdicts.items() if not v[-1]}
        for device in sorted(failing - self._skewed):
            offset_h = round((self.device_beats[device] - (median or 0)) / HOUR_MS, 1)
            log.warning("device clock outside its store's tolerance: its clock moves no store window",
                        store=self.store_id, device=device, offset_h=offset_h)  # fmt: skip
        self._skewed = (self._skewed - set(verdicts)) | failing
        return self.tally.rows(now), skewed

    def retired(self, device: str) -> bool:
        """Whether ``device`` is out of both votes: more than ``retire_ms`` behind both store clocks."""
        clock, beat = self.device_clocks.get(device), self.device_beats.get(device)
        behind_clock = clock is None or (self.clock is not None and clock < self.clock - self.retire_ms)
        behind_beat = beat is None or (self.beat_hour is not None and beat < self.beat_hour - self.retire_ms)
        return behind_clock and behind_beat

    def forget(self, device: str) -> None:
        """Drop a retired device's clocks (its ``clock_skew`` counts stay: back, it must not count a block
        afresh, which would lose to the block's earlier row)."""
        self.device_clocks.pop(device, None)
        self.device_beats.pop(device, None)
        self._skewed.discard(device)
