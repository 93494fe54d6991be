from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from dataflows.config import WindowConfig
from dataflows.gold.windows import StoreGold
from dataflows.silver.annotate import Annotation
from dataflows.silver.facts import ActivityFact, Fact, FeedbackFact, HeartbeatFact, InteractionFact, UtteranceFact
from dataflows.silver.sessions import Interaction
from dataflows.tables import COLUMNS, DqRow, LateRow
from dataflows.timegrid import HOUR_MS
from scout_contract import FeedbackV1, HeartbeatV1, decode_event
from tests.factories import T0, feedback, heartbeat

HOUR = T0 - T0 % HOUR_MS


def _row(table: str, row: tuple[object, ...]) -> dict[str, object]:
    return dict(zip(COLUMNS[table], row, strict=True))


def _interaction(start: int, dwell_s: float, greeted: bool = False, speech: bool = True) -> Fact:
    it = Interaction(
        interaction_id=f"i{start}", store_id="STORE-0001", device_id="SCOUTPI-0001", started_at=start,
        ended_at=start + int(dwell_s * 1000), n_utterances=1 if speech else 0, n_frames=3, max_people=1,
        n_words=3, transcript="", brands_mentioned=("milo",), brands_seen=("c2",), greeted=greeted,
        asked=False, sentiment=0.5, members=(),
    )  # fmt: skip
    return InteractionFact("STORE-0001", "SCOUTPI-0001", start, it.interaction_id, it)


def _hb(ts: int, device: str = "SCOUTPI-0001", **kw: Any) -> Fact:
    ev = decode_event(msgspec.json.encode(heartbeat(ts, device=device, **kw)))
    assert isinstance(ev, HeartbeatV1)
    return HeartbeatFact("STORE-0001", device, ts, ev.event_id, ev)


def test_interaction_metrics_use_nearest_rank_p90_and_rates() -> None:
    gold = StoreGold("STORE-0001", WindowConfig())
    facts: list[Fact] = [ActivityFact("STORE-0001", "SCOUTPI-0001", HOUR, "")]
    facts += [_interaction(HOUR + i * 60_000, dwell_s=10 * (i + 1), greeted=i % 2 == 0) for i in range(10)]
    rows = gold.apply(facts, now=1).rows["gold_store_interaction_metrics"]
    r = _row("gold_store_interaction_metrics", rows[-1])
    assert r["interactions"] == 10 and r["p90_dwell_s"] == 90.0 and r["avg_dwell_s"] == 55.0
    assert r["greeted_rate"] == 0.5 and r["speech_rate"] == 1.0 and r["brand_mentions"] == {"milo": 10}
    assert r["active_devices"] == 1


def test_updates_emit_the_complete_current_row() -> None:
    gold = StoreGold("STORE-0001", WindowConfig())
    gold.apply([_interaction(HOUR, 30)], now=1)
    second = gold.apply([_interaction(HOUR + 60_000, 60)], now=2).rows["gold_store_interaction_metrics"]
    assert _row("gold_store_interaction_metrics", second[0])["interactions"] == 2


def test_a_row_s_version_grows_with_its_facts_whatever_the_clock() -> None:
    """The version decides which row of a window ClickHouse keeps: more facts win, never a later ``now``."""
    gold = StoreGold("STORE-0001", WindowConfig())
    first = gold.apply([_interaction(HOUR, 30), ActivityFact("STORE-0001", "SCOUTPI-0001", HOUR, "")], now=9)
    second = gold.apply([_interaction(HOUR + 60_000, 60)], now=1)  # written by a pod whose clock is behind
    v1, v2 = (
        _row("gold_store_interaction_metrics", out.rows["gold_store_interaction_metrics"][0]) for out in (first, second)
    )
    assert (v1["version"], v2["version"], v1["updated_at"], v2["updated_at"]) == (2, 3, 9, 1)
    brand = [_row("gold_brand_performance", r) for r in second.rows["gold_brand_performance"]]
    assert {r["brand"]: r["version"] for r in brand} == {"milo": 2, "c2": 2}  # an interaction each, twice


def test_a_heartbeat_hour_outranks_the_offline_row_it_replaces() -> None:
    gold = StoreGold("STORE-0001", WindowConfig())
    facts = [_hb(HOUR + 60_000), _hb(HOUR + 2 * HOUR_MS + 60_000, device="SCOUTPI-0002")]
    offline = [
        _row("gold_device_health_summary", r) for r in gold.apply(facts, now=1).rows["gold_device_health_summary"]
    ]
    [gap] = [r for r in offline if r["device_id"] == "SCOUTPI-0001" and r["window_start"] == HOUR + HOUR_MS]
    assert gap["status"] == "OFFLINE" and gap["version"] == HOUR + 60_000  # the latest heartbeat it reports
    late = gold.apply([_hb(HOUR + HOUR_MS + 120_000)], now=0).rows["gold_device_health_summary"]
    [filled] = [
        r for r in map(lambda x: _row("gold_device_health_summary", x), late) if r["window_start"] == HOUR + HOUR_MS
    ]
    assert filled["heartbeats_received"] == 1 and int(str(filled["version"])) > int(str(gap["version"]))


def test_silent_device_gets_offline_hours_with_its_last_known_state() -> None:
    gold = StoreGold("STORE-0001", WindowConfig())
    facts = [_hb(HOUR + i * 600_000) for i in range(6)]  # a full first hour for device 1
    facts += [_hb(HOUR + h * HOUR_MS + 60_000, device="SCOUTPI-0002") for h in range(4)]
    rows = gold.apply(facts, now=1).rows["gold_device_health_summary"]
    dev1 = {r["window_start"]: r for r in (_row("gold_device_health_summary", x) for x in rows)
            if r["device_id"] == "SCOUTPI-0001"}  # fmt: skip
    assert dev1[HOUR]["status"] == "HEALTHY" and dev1[HOUR]["heartbeats_expected"] == 6
    for h in (1, 2, 3):
        later = dev1[HOUR + h * HOUR_MS]
        assert later["status"] == "OFFLINE" and later["heartbeats_received"] == 0
        assert later["last_seen"] == HOUR + 5 * 600_000 and later["heartbeats_expected"] == 6


def test_partial_hour_is_stale() -> None:
    gold = StoreGold("STORE-0001", WindowConfig())
    rows = gold.apply([_hb(HOUR + 60_000), _hb(HOUR + 660_000)], now=1).rows["gold_device_health_summary"]
    r = _row("gold_device_health_summary", rows[-1])
    assert (r["heartbeats_received"], r["status"], round(float(r["uptime_pct"]), 2)) == (2, "STALE", 33.33)  # type: ignore[arg-type]


def test_days_follow_the_configured_timezone() -> None:
    gold = StoreGold("STORE-0001", WindowConfig(day_timezone="Asia/Manila"))
    late_evening_utc = T0 + 9 * HOUR_MS  # 17:00Z = 01:00 next day in Manila
    ev = decode_event(msgspec.json.encode(feedback(late_evening_utc)))
    assert isinstance(ev, FeedbackV1)
    rows = gold.apply([FeedbackFact("STORE-0001", "advisor-app", late_evening_utc, "f", ev)], now=1)
    r = _row("gold_insight_feedback", rows.rows["gold_insight_feedback"][0])
    assert r["day"] == dt.date(2025, 5, 20) and r["acceptance_rate"] == 1.0
    assert r["window_start"] == int(dt.datetime(2025, 5, 19, 16, tzinfo=dt.UTC).timestamp() * 1000)


def test_sentiment_counts_and_language_mix() -> None:
    gold = StoreGold("STORE-0001", WindowConfig())
    notes = [(Annotation(False, False, (), s, 2), lang) for s, lang in ((1.0, "tl"), (-0.5, "en"), (0.0, "tl"))]
    facts: list[Fact] = [
        UtteranceFact("STORE-0001", "SCOUTPI-0001", HOUR + i, f"u{i}", note, lang)
        for i, (note, lang) in enumerate(notes)
    ]
    r = _row(
        "gold_transcript_sentiment_analysis",
        gold.apply(facts, now=1).rows["gold_transcript_sentiment_analysis"][0],
    )
    assert (r["utterances"], r["positive"], r["neutral"], r["negative"]) == (3, 1, 1, 1)
    assert r["language_mix"] == {"tl": 2, "en": 1} and r["avg_sentiment"] == 0.5 / 3


def test_state_is_evicted_and_late_contributions_are_reported() -> None:
    gold = StoreGold("STORE-0001", WindowConfig(gold_retention_ms=2 * HOUR_MS))
    gold.apply([_interaction(HOUR, 30)], now=1)
    out = gold.apply([_interaction(HOUR + 5 * HOUR_MS, 30)], now=2)
    assert HOUR not in gold.hours
    late = gold.apply([_interaction(HOUR + 60_000, 30)], now=3)
    assert [r.reason for r in late.of(LateRow)] == ["gold window already evicted (older than gold retention)"]
    assert "gold_store_interaction_metrics" not in late.rows
    assert out.rows["gold_store_interaction_metrics"]


def test_offline_rows_are_bounded_by_the_data_not_by_calendar_time() -> None:
    """A device silent for a year, or a clock a century ahead, costs at most offline_rows_h rows."""
    cfg = WindowConfig(offline_rows_h=5)
    gold = StoreGold("STORE-0001", cfg)
    far = HOUR + 80 * 365 * 24 * HOUR_MS  # 2105
    out = gold.apply([_hb(HOUR + 60_000), _hb(far)], now=1)  # one device: its clock is the store's
    rows = [_row("gold_device_health_summary", r) for r in out.rows["gold_device_health_summary"]]
    dev1 = sorted(r["window_start"] for r in rows)  # type: ignore[type-var]
    assert dev1 == [*(HOUR + h * HOUR_MS for h in range(6)), far - far % HOUR_MS]  # + 5 OFFLINE hours
    # a heartbeat inside the gap: one bounded run of OFFLINE hours after it, nothing more
    mid = HOUR + 100 * HOUR_MS
    later = gold.apply([_hb(mid)], now=2).rows["gold_device_health_summary"]
    starts = sorted(_row("gold_device_health_summary", r)["window_start"] for r in later)  # type: ignore[type-var]
    assert starts == [mid + h * HOUR_MS for h in range(6)]


def test_offline_hours_stop_at_the_next_heartbeat_hour() -> None:
    gold = StoreGold("STORE-0001", WindowConfig(offline_rows_h=48))
    facts = [_hb(HOUR + 60_000), _hb(HOUR + 3 * HOUR_MS + 60_000), _hb(HOUR + 10 * HOUR_MS, device="SCOUTPI-0002")]
    rows = [_row("gold_device_health_summary", r) for r in gold.apply(facts, now=1).rows["gold_device_health_summary"]]
    dev1 = {int(r["window_start"]): r["status"] for r in rows if r["device_id"] == "SCOUTPI-0001"}  # type: ignore[call-overload]
    assert sorted(dev1) == [HOUR + h * HOUR_MS for h in range(11)]
    assert [dev1[HOUR + h * HOUR_MS] for h in (1, 2, 4, 10)] == ["OFFLINE"] * 4


def test_a_gold_snapshot_keeps_its_values_while_the_windows_go_on() -> None:
    import copy

    gold = StoreGold("STORE-0001", WindowConfig())
    gold.apply([_hb(HOUR), _interaction(HOUR, 30)], now=1)
    state = gold.snapshot()
    taken = copy.deepcopy(state)
    gold.apply([_hb(HOUR + 600_000), _interaction(HOUR + 60_000, 60), _hb(HOUR + 3 * HOUR_MS)], now=2)
    assert gold.snapshot() != taken
    assert state == taken
    resumed = StoreGold("", WindowConfig())
    resumed.restore(state)
    rows = resumed.apply([_interaction(HOUR + 120_000, 90)], now=3).rows["gold_store_interaction_metrics"]
    # the snapshot's one interaction and the new one, not the three the live windows saw
    assert _row("gold_store_interaction_metrics", rows[-1])["interactions"] == 2
    assert state == taken and resumed.store_id == "STORE-0001"


def _feedback_row(zone: str, ts: int) -> dict[str, object]:
    gold = StoreGold("STORE-0001", WindowConfig(day_timezone=zone))
    ev = decode_event(msgspec.json.encode(feedback(ts)))
    assert isinstance(ev, FeedbackV1)
    rows = gold.apply([FeedbackFact("STORE-0001", "advisor-app", ts, "f", ev)], now=1)
    return _row("gold_insight_feedback", rows.rows["gold_insight_feedback"][0])


def test_a_half_hour_zone_starts_its_day_at_local_midnight() -> None:
    from zoneinfo import ZoneInfo

    kolkata = ZoneInfo("Asia/Kolkata")
    ten_past_midnight = int(dt.datetime(2025, 5, 20, 0, 10, tzinfo=kolkata).timestamp() * 1000)
    r = _feedback_row("Asia/Kolkata", ten_past_midnight)  # 18:40Z: the UTC hour began on the 19th, locally
    assert r["day"] == dt.date(2025, 5, 20)
    assert r["window_start"] == int(dt.datetime(2025, 5, 20, tzinfo=kolkata).timestamp() * 1000)


def test_days_of_a_dst_change_are_23_and_25_hours_long() -> None:
    from zoneinfo import ZoneInfo

    new_york = ZoneInfo("America/New_York")
    for day, hours in ((dt.date(2025, 3, 9), 23), (dt.date(2025, 11, 2), 25), (dt.date(2025, 6, 1), 24)):
        noon = int(dt.datetime(day.year, day.month, day.day, 12, tzinfo=new_york).timestamp() * 1000)
        r = _feedback_row("America/New_York", noon)
        assert r["day"] == day
        assert (int(r["window_end"]) - int(r["window_start"])) // HOUR_MS == hours, day  # type: ignore[call-overload]


def _health(row: tuple[object, ...]) -> dict[str, object]:
    return _row("gold_device_health_summary", row)


def _offline(rows: list[tuple[object, ...]], device: str) -> list[object]:
    health = map(_health, rows)
    return [r["window_start"] for r in health if r["device_id"] == device and r["status"] == "OFFLINE"]


def test_one_heartbeat_months_ahead_gives_its_store_mates_no_offline_rows() -> None:
    """Three devices report together; the third sends one heartbeat stamped 90 days ahead. The store's
    heartbeat hour stays with the majority (store_clock.py): no OFFLINE hour for the other two, no
    window evicted, and that heartbeat (only) counts as failed under the clock_skew rule."""
    gold = StoreGold("STORE-0001", WindowConfig())
    devices = ("SCOUTPI-0001", "SCOUTPI-0002", "SCOUTPI-0003")
    facts = [_hb(HOUR + m * 60_000, device=d) for m in range(0, 60, 10) for d in devices]
    facts.append(_hb(HOUR + 90 * 24 * HOUR_MS, device="SCOUTPI-0003"))
    out = gold.apply([*facts, _interaction(HOUR, 30)], now=1)
    rows = out.rows["gold_device_health_summary"]
    assert _offline(rows, "SCOUTPI-0001") == [] and _offline(rows, "SCOUTPI-0002") == []
    assert gold.clocks.beat_hour == HOUR and gold.hours  # nothing evicted
    skew = {r.scope: (r.passed, r.failed) for r in out.of(DqRow) if r.rule == "clock_skew"}
    # each heartbeat judged where it falls in time: only the third device's one 90 days ahead is outside
    assert skew == {"device/SCOUTPI-0001": (6, 0), "device/SCOUTPI-0002": (6, 0), "device/SCOUTPI-0003": (6, 1)}
    # and the device-health column says so in that heartbeat's hour only
    skewed = {(r["device_id"], r["window_start"]): r["skewed_heartbeats"] for r in map(_health, rows)}
    assert skewed.pop(("SCOUTPI-0003", HOUR + 90 * 24 * HOUR_MS)) == 1 and set(skewed.values()) == {0}


def test_a_device_far_behind_holds_nothing_back_and_a_silent_one_still_goes_offline() -> None:
    """Four devices: one 3 days behind, one silent after the first hour. The silent device's OFFLINE
    hours follow the store's heartbeat hour (the others'), the device behind moves nothing."""
    gold = StoreGold("STORE-0001", WindowConfig())
    facts = [_hb(HOUR + h * HOUR_MS + m * 60_000, device=d) for h in range(4) for m in (0, 30)
             for d in ("SCOUTPI-0001", "SCOUTPI-0002")]  # fmt: skip
    facts += [_hb(HOUR + m * 60_000, device="SCOUTPI-0003") for m in (0, 30)]
    facts += [_hb(HOUR - 72 * HOUR_MS + h * HOUR_MS, device="SCOUTPI-0004") for h in range(4)]
    rows = gold.apply(facts, now=1).rows["gold_device_health_summary"]
    assert _offline(rows, "SCOUTPI-0003") == [HOUR + h * HOUR_MS for h in (1, 2, 3)]
    assert _offline(rows, "SCOUTPI-0001") == [] and gold.clocks.beat_hour == HOUR + 3 * HOUR_MS
    # in that first batch the device behind came first in time, with no majority against it; in the next
    # batch it has one, and its heartbeat is flagged in its device-health row
    assert {_health(r)["skewed_heartbeats"] for r in rows} == {0}
    later = gold.apply([_hb(HOUR - 40 * HOUR_MS, device="SCOUTPI-0004")], now=2)  # 43 h behind, not evicted
    flagged = {(r["device_id"], r["window_start"], r["skewed_heartbeats"]) for r in map(_health, later.rows[
        "gold_device_health_summary"]) if r["skewed_heartbeats"]}  # fmt: skip
    assert flagged == {("SCOUTPI-0004", HOUR - 40 * HOUR_MS, 1)}


def test_with_two_devices_there_is_no_majority_and_the_older_clock_wins() -> None:
    """The documented limit: two devices cannot out-vote each other. The older clock wins: one ahead would
    evict its store-mate's windows (their facts lost to late_events), one behind only keeps them longer."""
    gold = StoreGold("STORE-0001", WindowConfig(offline_rows_h=3))
    out = gold.apply([_hb(HOUR), _hb(HOUR + 90 * 24 * HOUR_MS, device="SCOUTPI-0002")], now=1)
    assert _offline(out.rows["gold_device_health_summary"], "SCOUTPI-0001") == []
    assert gold.clocks.beat_hour == HOUR and gold.clocks.clock == HOUR


def test_a_store_that_loses_most_of_its_devices_keeps_its_clock_and_forgets_the_retired_ones() -> None:
    """Three devices report for two hours, then two are retired and the third runs on for 30 hours. Its
    clock is the store's: the silent two leave the vote ``device_retire_h`` behind it, so its heartbeats
    are not counted as skewed, old windows are evicted, the silent devices get their ``offline_rows_h``
    OFFLINE hours (no more) and then leave the gold state."""
    cfg = WindowConfig(offline_rows_h=5, gold_retention_ms=6 * HOUR_MS)
    gold = StoreGold("STORE-0001", cfg)
    devices = ("SCOUTPI-0001", "SCOUTPI-0002", "SCOUTPI-0003")
    health: list[tuple[object, ...]] = []
    skew: dict[str, tuple[int, int]] = {}
    for h in range(32):
        alive = devices if h < 2 else devices[:1]
        out = gold.apply([_hb(HOUR + h * HOUR_MS + m * 60_000, device=d) for m in (0, 30) for d in alive], now=h)
        health += out.rows.get("gold_device_health_summary", [])
        skew.update({r.scope: (r.passed, r.failed) for r in out.of(DqRow) if r.rule == "clock_skew"})
    assert gold.clocks.beat_hour == HOUR + 31 * HOUR_MS
    assert skew["device/SCOUTPI-0001"] == (64, 0)
    assert min(gold.hours, default=None) is None or min(gold.hours) > HOUR + 20 * HOUR_MS
    for silent in devices[1:]:
        assert set(_offline(health, silent)) == {HOUR + h * HOUR_MS for h in range(2, 7)}
        assert silent not in gold.devices
        assert silent not in gold.clocks.device_clocks and silent not in gold.clocks.device_beats
    assert min(k[1] for k in gold.device_hours) > HOUR + 20 * HOUR_MS  # bounded: only recent hours are held
