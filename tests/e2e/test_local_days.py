"""Gold days are local days of ``day_timezone`` (zone database): a half-hour zone, both DST changes.

Streamed gold and the SQL oracle (``scout db verify``) must agree, and both must be right: a
Kolkata event at 00:10 counts in its own day, and a New York day is 23 h long in March and 25 h
in November. A warehouse records the zone that built it and refuses another.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.conftest import Scout
from tests.factories import feedback, record, visual, write_records

pytestmark = pytest.mark.slow


def _ms(zone: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(dt.datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone)).timestamp() * 1000)


def _run(scout: Scout, zone: str, moments: list[int]) -> list[dict[str, object]]:
    records = []
    for ts in sorted(moments):
        records += [record(visual(ts, labels=("face", "brand:milo"))), record(feedback(ts))]
    events = write_records(scout.workdir / "events.jsonl", records)
    scout("run", "--source", f"file:{events}", "--sink", scout.sink, "--no-summary", env={"SCOUT_DAY_TIMEZONE": zone})
    report = scout("db", "verify", "--json", "--sink", scout.sink, env={"SCOUT_DAY_TIMEZONE": zone})
    assert '"ok": false' not in report.stdout, report.stdout
    return scout.query(
        "SELECT toString(day) AS day, toUnixTimestamp64Milli(window_start) AS s,"
        " toUnixTimestamp64Milli(window_end) AS e, sightings FROM gold_brand_performance FINAL ORDER BY day"
    )


def test_a_half_hour_zone_counts_ten_past_midnight_in_its_own_day(tmp_path: Path) -> None:
    scout = Scout(tmp_path)
    zone = "Asia/Kolkata"
    rows = _run(scout, zone, [_ms(zone, 2025, 5, 19, 23, 50), _ms(zone, 2025, 5, 20, 0, 10)])
    assert [(r["day"], r["sightings"]) for r in rows] == [("2025-05-19", 1), ("2025-05-20", 1)]
    assert rows[1]["s"] == _ms(zone, 2025, 5, 20)
    [fb] = scout.query("SELECT count() AS n FROM gold_insight_feedback FINAL WHERE day = '2025-05-20'")
    assert fb == {"n": 1}


def test_dst_days_are_23_and_25_hours_long_in_the_stream_and_in_verify(tmp_path: Path) -> None:
    scout = Scout(tmp_path)
    zone = "America/New_York"
    noon = [_ms(zone, 2025, 3, 9, 12), _ms(zone, 2025, 6, 1, 12), _ms(zone, 2025, 11, 2, 12)]
    rows = _run(scout, zone, noon)
    hours = {r["day"]: (int(r["e"]) - int(r["s"])) // 3_600_000 for r in rows}  # type: ignore[call-overload]
    assert hours == {"2025-03-09": 23, "2025-06-01": 24, "2025-11-02": 25}


def test_the_warehouse_refuses_a_run_or_a_verify_in_another_zone(tmp_path: Path) -> None:
    scout = Scout(tmp_path)
    _run(scout, "Asia/Manila", [_ms("Asia/Manila", 2025, 5, 20, 9)])
    events = scout.workdir / "events.jsonl"
    other = {"SCOUT_DAY_TIMEZONE": "Asia/Kolkata"}
    for args in (("run", "--source", f"file:{events}", "--no-summary"), ("db", "verify"), ("db", "migrate")):
        refused = scout(*args, "--sink", scout.sink, env=other, check=False)
        assert refused.returncode == 4, refused.stderr
        assert "built with day_timezone 'Asia/Manila'" in refused.stderr and "Traceback" not in refused.stderr
