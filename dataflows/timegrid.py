"""The hour and day grid every window and replay uses (one definition of each).

Hours are UTC-aligned (the same boundaries in Manila); days start at local midnight
in ``day_timezone``, so a day is not always 24 hours long where the zone has DST.

>>> from zoneinfo import ZoneInfo
>>> manila = ZoneInfo("Asia/Manila")
>>> t = 1_747_641_600_000  # 2025-05-19 08:00 UTC = 16:00 in Manila
>>> hour_start(t + 59_000) == t, day_start(t, manila), local_date(day_start(t, manila), manila)
(True, 1747584000000, datetime.date(2025, 5, 19))
>>> day_end(day_start(t, manila), manila) - day_start(t, manila) == DAY_MS
True
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

HOUR_MS = 3_600_000
#: A day without a DST change (gold rows' ``window_end`` and eviction horizons).
DAY_MS = 24 * HOUR_MS


def hour_start(ms: int) -> int:
    """Start of the UTC hour holding ``ms`` (ms since the epoch)."""
    return ms - ms % HOUR_MS


def day_start(ms: int, zone: ZoneInfo) -> int:
    """Local midnight (in ``zone``) starting the day that holds ``ms``, as ms since the epoch."""
    local = datetime.fromtimestamp(ms / 1000, zone)
    return int(local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp() * 1000)


def day_end(day_ms: int, zone: ZoneInfo) -> int:
    """The next local midnight after the day that starts at ``day_ms`` (DST-safe)."""
    local = datetime.fromtimestamp(day_ms / 1000, zone)
    following = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return int(following.timestamp() * 1000)


def local_date(day_ms: int, zone: ZoneInfo) -> date:
    """The calendar date of the day that starts at ``day_ms``."""
    return datetime.fromtimestamp(day_ms / 1000, zone).date()
