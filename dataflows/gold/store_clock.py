"""A store's clock, which no single device controls (docs/architecture.md, "Store clock").

A Pi has no real-time clock, and it stamps both the event time and the record timestamp: a device
whose clock is days ahead would, as the newest time of its store, evict its store-mates' gold
windows and give them OFFLINE rows; a device days behind must not hold anything back either. Each
device has a clock (the newest time it reported); the store's clock is the newest device clock
within ``tolerance`` of the store's *median* device clock (the upper median: with two devices, the
newer one). A device further than ``tolerance`` from the median is an *outlier*: its events still
count in their own windows, but its clock moves nothing, and its heartbeats are counted under the
``clock_skew`` rule.

What it cannot do: out-vote with two devices (there is no majority; the newer clock wins, as before).
A live run quarantines a clock ahead of the present (``ts_not_after_ingest``); topics with
``message.timestamp.type=LogAppendTime`` give ``ts_not_in_future`` the broker's clock to compare with.

The same rule is written in SQL in ``clickhouse/verify/gold_device_health_summary.sql``.

>>> HOUR = 3_600_000
>>> store_clock([10 * HOUR, 11 * HOUR, 83 * HOUR], tolerance_ms=24 * HOUR) // HOUR  # one device 3 days ahead
11
>>> store_clock([-62 * HOUR, 10 * HOUR, 11 * HOUR, 83 * HOUR], tolerance_ms=24 * HOUR) // HOUR
11
>>> store_clock([10 * HOUR, 83 * HOUR], tolerance_ms=24 * HOUR) // HOUR  # two devices: no majority
83
>>> store_clock([], tolerance_ms=HOUR) is None
True
"""

from __future__ import annotations

from collections.abc import Collection


def median_clock(clocks: Collection[int]) -> int | None:
    """The upper median of the device clocks (``None`` for no device)."""
    if not clocks:
        return None
    ordered = sorted(clocks)
    return ordered[len(ordered) // 2]


def store_clock(clocks: Collection[int], tolerance_ms: int, median: int | None = None) -> int | None:
    """The newest device clock within ``tolerance_ms`` of the median one (``None`` for no device);
    ``median``: :func:`median_clock` of ``clocks`` when the caller has it already."""
    median = median_clock(clocks) if median is None else median
    if median is None:
        return None
    return max(c for c in clocks if c - median <= tolerance_ms)


def is_outlier(clock: int, median: int | None, tolerance_ms: int) -> bool:
    """Whether a device clock is further than ``tolerance_ms`` from the store's median clock."""
    return median is not None and abs(clock - median) > tolerance_ms
