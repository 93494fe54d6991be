from __future__ import annotations

from dataflows.bronze.rules import RuleSet
from dataflows.bronze.validate import Accepted, Validator
from dataflows.config import WindowConfig
from dataflows.silver.annotate import Lexicon
from dataflows.silver.event_clock import DeviceClock
from dataflows.silver.facts import InteractionFact
from dataflows.silver.sessions import Interaction
from dataflows.tables import BronzeSttRow, BronzeVisualRow, DqRow, HeartbeatRow, InteractionRow, LateRow
from scout_contract import SourceRecord
from tests.factories import T0, heartbeat, record, stt, visual


def _accept(rules: RuleSet, *records: SourceRecord) -> list[Accepted]:
    return Validator(rules).validate(list(records)).accepted


def _interactions(clock: DeviceClock, *outs: object) -> list[Interaction]:
    facts = [f for o in outs for f in o.facts]  # type: ignore[attr-defined]
    return [f.interaction for f in facts if isinstance(f, InteractionFact)]


def test_late_event_is_logged_kept_in_bronze_marked_and_counted_nowhere(
    rules: RuleSet, lexicon: Lexicon, windows: WindowConfig
) -> None:
    clock = DeviceClock(windows, lexicon)
    out = clock.process(_accept(rules, record(visual(T0 + 60_000)), record(stt(T0, event_id="old"))), now_ms=1)
    assert [r.event_id for r in out.rows.of(LateRow)] == ["old"]
    [kept] = out.rows.of(BronzeSttRow)
    assert kept.late is True
    assert not [f for f in out.facts if f.event_id == "old"]
    assert all(m.event_id != "old" for session in clock.sessions.open for m in session.members)
    late = out.rows.of(LateRow)[0]
    assert late.watermark == T0 + 60_000 - windows.out_of_orderness_ms  # the watermark it missed


def test_disorder_within_the_bound_is_on_time(rules: RuleSet, lexicon: Lexicon, windows: WindowConfig) -> None:
    clock = DeviceClock(windows, lexicon)
    out = clock.process(_accept(rules, record(visual(T0 + 9_000)), record(stt(T0))), now_ms=1)
    assert "late_events" not in out.rows.rows
    assert len(out.rows.rows["bronze_stt_raw"]) == 1


def test_duplicate_event_id_is_processed_once(rules: RuleSet, lexicon: Lexicon, windows: WindowConfig) -> None:
    clock = DeviceClock(windows, lexicon)
    ev = stt(T0, event_id="dup")
    out1 = clock.process(_accept(rules, record(ev)), now_ms=1)
    out2 = clock.process(_accept(rules, record(ev), record(visual(T0 + 1_000))), now_ms=2)
    assert len(out1.rows.rows["bronze_stt_raw"]) == 1
    assert "bronze_stt_raw" not in out2.rows.rows
    dq = {(r.stream, r.rule): (r.scope, r.block, r.passed, r.failed, r.version) for r in out2.rows.of(DqRow)}
    # cumulative over the device's block of evaluations: the first copy passed, the second did not
    assert dq[("stt", "unique_event_id")] == ("device/SCOUTPI-0001", 0, 1, 1, 2)
    assert [f.kind for f in out2.facts].count("utterance") == 0


def test_a_resumed_clock_counts_each_evaluation_once(rules: RuleSet, lexicon: Lexicon, windows: WindowConfig) -> None:
    """The killed run counted records its snapshot had not seen; the resumed run counts them again from the
    snapshot's counts, so the block's row reaches the same version and counts as one run without the kill."""
    evs = [stt(T0 + i * 1_000, event_id=f"e{i % 5}") for i in range(12)]  # 5 ids: 7 duplicates
    clean = DeviceClock(windows, lexicon)
    for i in range(0, 12, 3):
        clean_rows = clean.process(_accept(rules, *map(record, evs[i : i + 3])), now_ms=1).rows.of(DqRow)
    killed = DeviceClock(windows, lexicon)
    killed.process(_accept(rules, *map(record, evs[:4])), now_ms=1)
    state = killed.snapshot()
    killed.process(_accept(rules, *map(record, evs[4:9])), now_ms=1)  # lost with the kill
    resumed = DeviceClock(windows, lexicon)
    resumed.restore(state)
    resumed_rows = resumed.process(_accept(rules, *map(record, evs[4:])), now_ms=1).rows.of(DqRow)
    assert [(r.block, r.passed, r.failed, r.version) for r in resumed_rows] == [(0, 5, 7, 12)]
    assert resumed_rows == clean_rows


def test_session_joins_speech_and_vision(rules: RuleSet, lexicon: Lexicon, windows: WindowConfig) -> None:
    clock = DeviceClock(windows, lexicon)
    recs = [
        record(visual(T0, labels=("person", "face", "person"))),
        record(stt(T0 + 2_000, text="Magandang umaga po! Magkano ang Coke?", duration_ms=3_000)),
        record(visual(T0 + 4_000, labels=("person", "brand:milo"))),
        record(stt(T0 + 20_000, text="Salamat po, ang sarap", duration_ms=2_000)),
        record(visual(T0 + 200_000, labels=())),  # no people: advances the clock only
    ]
    out = clock.process(_accept(rules, *recs), now_ms=5)
    [it] = _interactions(clock, out)
    assert (it.started_at, it.ended_at) == (T0, T0 + 22_000)
    assert (it.n_utterances, it.n_frames, it.max_people) == (2, 2, 3)
    assert it.greeted and it.asked and it.brands_mentioned == ("coca-cola",) and it.brands_seen == ("milo",)
    assert it.transcript.startswith("Magandang umaga") and it.sentiment == 0.5
    assert len(out.rows.rows["silver_annotated_events"]) == 4
    row = out.rows.of(InteractionRow)[0]
    assert row.interaction_id == it.interaction_id and row.has_speech is True and row.has_vision is True


def test_session_across_an_hour_boundary_is_one_interaction(
    rules: RuleSet, lexicon: Lexicon, windows: WindowConfig
) -> None:
    hour_end = T0 + 3_600_000
    clock = DeviceClock(windows, lexicon)
    recs = [record(visual(hour_end - 10_000 + i * 5_000)) for i in range(5)]
    [it] = _interactions(clock, clock.process(_accept(rules, *recs), now_ms=1), clock.flush(2))
    assert it.started_at < hour_end < it.ended_at and it.n_frames == 5


def test_empty_transcript_is_an_utterance_without_words(
    rules: RuleSet, lexicon: Lexicon, windows: WindowConfig
) -> None:
    clock = DeviceClock(windows, lexicon)
    out = clock.process(_accept(rules, record(stt(T0, text=""))), now_ms=1)
    assert out.rows.of(BronzeSttRow)[0].warnings == ["stt_transcript_not_empty"]
    [it] = _interactions(clock, clock.flush(2))
    assert it.n_utterances == 1 and it.n_words == 0 and not it.has_vision


def test_heartbeats_have_their_own_clock(rules: RuleSet, lexicon: Lexicon, windows: WindowConfig) -> None:
    clock = DeviceClock(windows, lexicon)
    out = clock.process(_accept(rules, record(visual(T0 + 600_000)), record(heartbeat(T0))), now_ms=1)
    assert "late_events" not in out.rows.rows
    assert out.rows.of(HeartbeatRow)[0].status == "OK"
    hot = clock.process(_accept(rules, record(heartbeat(T0 + 60_000, cpu_temp_c=85.0))), now_ms=2)
    assert hot.rows.of(HeartbeatRow)[0].status == "HOT"


def test_seen_ids_are_forgotten_behind_the_watermark(rules: RuleSet, lexicon: Lexicon, windows: WindowConfig) -> None:
    clock = DeviceClock(windows, lexicon)
    for i in range(50):
        clock.process(_accept(rules, *[record(visual(T0 + (i * 100 + j) * 1_000)) for j in range(100)]), now_ms=1)
    assert sum(map(len, clock.seen.values())) < 200  # bounded by the out-of-orderness window, not by history


def test_a_stalled_stream_group_does_not_keep_the_other_groups_ids(
    rules: RuleSet, lexicon: Lexicon, windows: WindowConfig
) -> None:
    """One heartbeat, then hours of frames: the heartbeat group's watermark stays behind, yet the
    frames' ids are forgotten behind their own group's watermark."""
    clock = DeviceClock(windows, lexicon)
    clock.process(_accept(rules, record(heartbeat(T0))), now_ms=1)
    for i in range(50):
        clock.process(_accept(rules, *[record(visual(T0 + (i * 100 + j) * 1_000)) for j in range(100)]), now_ms=1)
    assert len(clock.seen["join"]) < 200 and len(clock.seen["heartbeat"]) == 1
    # and a repeat inside the window is still a duplicate
    again = clock.process(_accept(rules, record(visual(T0 + 4_999_000, event_id="v-last"))), now_ms=2)
    repeat = clock.process(_accept(rules, record(visual(T0 + 4_999_000, event_id="v-last"))), now_ms=2)
    assert again.rows.of(BronzeVisualRow) and not repeat.rows.of(BronzeVisualRow)


def test_rows_built_per_event_are_whole_rows_of_their_table(
    rules: RuleSet, lexicon: Lexicon, windows: WindowConfig
) -> None:
    """Bronze and annotated rows are built from values in field order (``tables.build_row``, no
    NamedTuple constructor): each must have exactly its class's fields, read back by name."""
    from dataflows.bronze.rows import bronze_row
    from dataflows.silver.rows import PENDING, annotated_rows
    from dataflows.silver.sessions import summarise
    from dataflows.tables import AnnotatedRow, BronzeFeedbackRow, BronzeHeartbeatRow, BronzeVisualRow
    from tests.factories import feedback

    accepted = _accept(
        rules, record(visual(T0, labels=("face", "brand:piattos"))), record(stt(T0 + 1_000)),
        record(heartbeat(T0 + 2_000)), record(feedback(T0 + 3_000)),
    )  # fmt: skip
    rows = [bronze_row(acc, 7, late=False) for acc in accepted]
    assert [type(r) for r in rows] == [BronzeVisualRow, BronzeSttRow, BronzeHeartbeatRow, BronzeFeedbackRow]
    for row, acc in zip(rows, accepted, strict=True):
        assert len(row) == len(type(row)._fields)
        assert row == type(row)(*row)  # the constructor takes exactly these values
        assert (row.event_id, row.ts, row.ingested_at, row.late) == (acc.event.event_id, acc.ts_ms, 7, False)
        assert row.topic == acc.record.topic and row.payload == acc.record.value
    assert isinstance(rows[0], BronzeVisualRow) and rows[0].labels == ["face", "brand:piattos"]
    clock = DeviceClock(windows, lexicon)
    clock.process(accepted[:2], now_ms=7)
    [session] = clock.sessions.open
    notes = annotated_rows(summarise(session), 9, PENDING)
    assert {type(r) for r in notes} == {AnnotatedRow} and all(len(r) == len(AnnotatedRow._fields) for r in notes)
    assert [(r.kind, r.brands, r.processed_at) for r in notes] == [("frame", ["piattos"], 9), ("utterance", [], 9)]


def test_a_snapshot_keeps_its_values_while_the_clock_goes_on(
    rules: RuleSet, lexicon: Lexicon, windows: WindowConfig
) -> None:
    import copy
    import pickle

    clock = DeviceClock(windows, lexicon)
    clock.process(_accept(rules, record(visual(T0, labels=("face",))), record(stt(T0 + 1_000))), now_ms=1)
    state = clock.snapshot()
    taken = copy.deepcopy(state)  # what a pickle taken at once would hold
    # the clock goes on: a member joins the open session, new ids are seen, the watermark moves
    clock.process(_accept(rules, record(visual(T0 + 5_000, labels=("person",))), record(stt(T0 + 8_000))), now_ms=2)
    assert clock.snapshot() != taken
    assert state == taken and pickle.loads(pickle.dumps(state)) == taken
    resumed = DeviceClock(windows, lexicon)
    resumed.restore(state)
    assert (resumed.max_ts, resumed.seen, resumed.sessions.open) == (taken.max_ts, taken.seen, list(taken.sessions))
    # the resumed clock goes on too, and the snapshot still holds its values
    resumed.process(_accept(rules, record(visual(T0 + 6_000, labels=("face",)))), now_ms=3)
    assert state == taken
    assert len(resumed.sessions.open[0].members) == len(taken.sessions[0].members) + 1


def test_an_id_forgotten_behind_the_watermark_is_no_duplicate_whatever_the_batching(
    rules: RuleSet, lexicon: Lexicon, windows: WindowConfig
) -> None:
    """An event id is remembered down to its group's watermark and no further: an id whose first
    event the watermark has passed is a new event, whether or not the clock has pruned it yet
    (pruning is a memory matter, done per batch, so it must not decide a verdict)."""
    ooo = windows.out_of_orderness_ms
    evs = [visual(T0, event_id="x"), visual(T0 + 3 * ooo), visual(T0 + 6 * ooo, event_id="x")]
    for split in ([3], [1, 1, 1], [2, 1], [1, 2]):
        clock = DeviceClock(windows, lexicon)
        kept: list[tuple[str, bool]] = []
        at = 0
        for n in split:
            out = clock.process(_accept(rules, *map(record, evs[at : at + n])), now_ms=1)
            kept += [(r.event_id, r.late) for r in out.rows.of(BronzeVisualRow)]
            at += n
        assert [eid for eid, late in kept if eid == "x" and not late] == ["x", "x"], split
