"""The Bytewax wiring, run with ``bytewax.testing`` (no ClickHouse)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSink, TestingSource, run_main
from prometheus_client import REGISTRY

from dataflows.bronze.rules import RuleSet
from dataflows.config import WindowConfig
from dataflows.flow import build_flow
from dataflows.silver.annotate import Lexicon
from dataflows.tables import COLUMNS, DeviceHealthRow, TableRows
from scout_contract import SourceRecord
from tests.factories import NOW, T0, feedback, heartbeat, record, stt, visual


def _run(batches: list[list[SourceRecord]], rules: RuleSet, lexicon: Lexicon) -> dict[str, list[dict[str, object]]]:
    out: list[tuple[str, TableRows]] = []
    flow = build_flow(TestingSource(batches), TestingSink(out), rules, lexicon, WindowConfig(), now_ms=lambda: NOW)
    run_main(flow)
    tables: dict[str, list[dict[str, object]]] = {}
    for _key, item in out:
        for table, rows in item.rows.items():
            tables.setdefault(table, []).extend(dict(zip(COLUMNS[table], r, strict=True)) for r in rows)
    return tables


def test_hand_written_cases_through_the_whole_flow(rules: RuleSet, lexicon: Lexicon) -> None:
    dup = stt(T0 + 1_000, text="Hi po, meron ba kayong Milo?", event_id="dup-1")
    batch1 = [
        record(visual(T0, event_id="v-1")),
        record(dup),
        record(b"{not json"),
        record({**stt(T0 + 2_000), "confidence": 7}),
        record(heartbeat(T0 + 5_000)),
        record(feedback(T0 + 6_000)),
    ]
    batch2 = [
        record(dup),  # duplicate delivery
        record(visual(T0 + 8_000, event_id="v-2")),  # out of order within the bound: on time
        record(visual(T0 + 300_000, labels=(), event_id="v-3")),  # clock moves on, first session closes
        record(stt(T0 + 3_000, event_id="too-late")),  # older than the watermark: late
    ]
    t = _run([batch1, batch2], rules, lexicon)
    assert [(r["event_id"], r["late"]) for r in t["bronze_stt_raw"]] == [("dup-1", False), ("too-late", True)]
    assert sorted(str(r["event_id"]) for r in t["bronze_visual_stream"]) == ["v-1", "v-2", "v-3"]
    assert [r["event_id"] for r in t["late_events"]] == ["too-late"]
    assert sorted(str(r["rules"]) for r in t["quarantine_events"]) == [
        "['json_parse']",
        "['stt_confidence_range']",
    ]
    [session] = t["silver_multimodal_aligned"]
    assert (session["n_utterances"], session["n_frames"], session["brands_mentioned"]) == (1, 2, ["milo"])
    assert session["greeted"] and session["asked"]
    gold = t["gold_store_interaction_metrics"][-1]
    assert gold["interactions"] == 1 and gold["active_devices"] == 1
    assert t["gold_insight_feedback"][-1]["accepted"] == 1
    assert t["gold_device_health_summary"][-1]["heartbeats_received"] == 1
    dq = {(r["stream"], r["rule"]): (r["passed"], r["failed"]) for r in t["dq_rule_metrics"]}
    assert dq[("stt", "unique_event_id")] == (1, 1)  # the device's block: the first copy passed, the second not


def test_prometheus_counters_follow_the_flow(rules: RuleSet, lexicon: Lexicon) -> None:
    def value(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    before = (value("scout_events_accepted_total", stream="visual"), value("scout_records_quarantined_total"))
    _run([[record(visual(T0)), record(visual(T0 + 1)), record(b"{")]], rules, lexicon)
    after = (value("scout_events_accepted_total", stream="visual"), value("scout_records_quarantined_total"))
    assert (after[0] - before[0], after[1] - before[1]) == (2, 1)


def test_end_of_input_closes_open_sessions(rules: RuleSet, lexicon: Lexicon) -> None:
    t = _run([[record(visual(T0)), record(stt(T0 + 1_000))]], rules, lexicon)
    assert len(t["silver_multimodal_aligned"]) == 1
    assert len(t["silver_annotated_events"]) == 2


def test_several_devices_and_stores_are_kept_apart(rules: RuleSet, lexicon: Lexicon) -> None:
    batch = [record(visual(T0, device=f"SCOUTPI-{d}", store=f"STORE-{d % 2}")) for d in range(4)] + [
        record(visual(T0 + 100_000, device="SCOUTPI-0", store="STORE-0"))
    ]
    t = _run([batch], rules, lexicon)
    assert len(t["silver_multimodal_aligned"]) == 5
    per_store = {r["store_id"]: r for r in t["gold_store_interaction_metrics"]}
    assert per_store["STORE-0"]["interactions"] == 3 and per_store["STORE-0"]["active_devices"] == 2
    assert per_store["STORE-1"]["interactions"] == 2


def test_a_window_setting_changed_across_a_resume_applies_from_the_resume_on(
    rules: RuleSet, lexicon: Lexicon, tmp_path: Path
) -> None:
    """docs/architecture.md, "Resuming with other settings": the snapshot holds data only, so the
    resumed run's settings apply to every row it writes (the event clock's and the gold windows')."""
    init_db_dir(tmp_path, 1)
    recovery = RecoveryConfig(str(tmp_path))
    # one heartbeat of the 6 expected (interval 600 s) in the first run, a second one after the resume
    batches: list[list[SourceRecord] | TestingSource.EOF] = [
        [record(heartbeat(T0))],
        TestingSource.EOF(),
        [record(heartbeat(T0 + 600_000))],
    ]

    def run(healthy_ratio: float) -> list[DeviceHealthRow]:
        out: list[tuple[str, TableRows]] = []
        windows = WindowConfig(healthy_ratio=healthy_ratio)
        flow = build_flow(TestingSource(batches), TestingSink(out), rules, lexicon, windows, now_ms=lambda: NOW)
        run_main(flow, epoch_interval=timedelta(0), recovery_config=recovery)
        return [r for _key, item in out for r in item.of(DeviceHealthRow)]

    [first] = run(healthy_ratio=0.1)  # 1/6 ≥ 0.1
    assert (first.heartbeats_received, first.status) == (1, "HEALTHY")
    [resumed] = run(healthy_ratio=0.5)  # 2/6 < 0.5: the resumed run's setting, with the snapshot's count
    assert (resumed.heartbeats_received, resumed.status) == (2, "STALE")


def test_a_snapshot_of_another_version_is_refused_with_one_line() -> None:
    import pytest

    from dataflows.errors import Exit, RecoveryStateError
    from dataflows.flow import _resumed
    from dataflows.gold.state import GoldState
    from dataflows.silver.event_clock import CLOCK_STATE_VERSION, ClockState

    _resumed(ClockState({}, {}, ()), ClockState, CLOCK_STATE_VERSION, "event-clock")  # this version's: taken
    # the tuple of live dicts the event clock handed Bytewax before typed snapshots
    with pytest.raises(RecoveryStateError, match="event-clock state of another version") as refused:
        _resumed(({}, {}, []), ClockState, CLOCK_STATE_VERSION, "event-clock")
    assert refused.value.exit_code is Exit.USAGE
    with pytest.raises(RecoveryStateError, match="gold-window state of another version"):
        _resumed(ClockState({}, {}, (), version=CLOCK_STATE_VERSION + 1), GoldState, 1, "gold-window")
