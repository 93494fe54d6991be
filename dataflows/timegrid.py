"""The hour and day grid every window and replay uses (one definition of each).

Hours are UTC-aligned (the same boundaries in Manila); days start at local midnight
in ``day_timezone``, computed with the zone database: a day is 23 or 25 hours long on
a DST change, and in a half-hour zone (Asia/Kolkata) midnight is not on a UTC hour.

>>> from zoneinfo import ZoneInfo
>>> manila = ZoneInfo("Asia/Manila")
>>> t = 1_747_641_600_000  # 2025-05-19 08:00 UTC = 16:00 in Manila
>>> hour_start(t + 59_000) == t, day_start(t, manila), local_date(day_start(t, manila), manila)
(True, 1747584000000, datetime.date(2025, 5, 19))
>>> day_end(day_start(t, manila), manila) - day_start(t, manila) == DAY_MS
True
>>> new_york = Days(ZoneInfo("America/New_York"))
>>> spring = new_york.start(1_741_500_000_000)  # 2025-03-09, clocks go forward
>>> (new_york.end(spring) - spring) // HOUR_MS, new_york.date(spring)
(23, datetime.date(2025, 3, 9))
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

HOUR_MS = 3_600_000
#: A day without a DST change (a local day's real length is :meth:`Days.end` − start).
DAY_MS = 24 * HOUR_MS
#: Every zone's UTC offset and every transition of the zone database since 1970 fall on a
#: quarter hour, so all instants of one quarter hour lie in the same local day.
QUARTER_HOUR_MS = 900_000


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


class Days:
    """The local days of one zone, with the day of each quarter hour cached (what gold asks per fact)."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self._starts: dict[int, int] = {}
        self._ends: dict[int, int] = {}

    def start(self, ms: int) -> int:
        """Local midnight starting the day that holds ``ms``."""
        quarter = ms - ms % QUARTER_HOUR_MS
        day = self._starts.get(quarter)
        if day is None:
            day = self._starts[quarter] = day_start(quarter, self.zone)
        return day

    def end(self, day_ms: int) -> int:
        """The end of the day that starts at ``day_ms`` (the next local midnight)."""
        end = self._ends.get(day_ms)
        if end is None:
            end = self._ends[day_ms] = day_end(day_ms, self.zone)
        return end

    def date(self, day_ms: int) -> date:
        """The calendar date of the day that starts at ``day_ms``."""
        return local_date(day_ms, self.zone)
