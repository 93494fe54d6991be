from __future__ import annotations

import json
from typing import Any

import pytest

from dataflows.bronze.rules import RuleSet, load_rules_text
from dataflows.bronze.validate import QualityRuleFailure, Validator
from dataflows.rule_tally import PARTITION_BLOCK
from tests.factories import T0, heartbeat, iso, record, stt, visual


def _quarantined_rules(rules: RuleSet, value: Any, record_ts: int | None = None) -> list[str]:
    result = Validator(rules).validate([record(value, record_ts=record_ts)])
    assert len(result.accepted) + len(result.quarantine_rows) == 1, "a record is never silently dropped"
    if not result.quarantine_rows:
        return []
    broken = result.quarantine_rows[0].rules
    assert isinstance(broken, list)
    return broken


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        (b'{"schema": "scout.stt/1", "event_', "json_parse"),
        (b'["an", "array"]', "json_parse"),
        ({**stt(T0), "schema": "scout.smell/1"}, "schema_known"),
        ({**stt(T0), "duration_ms": "long"}, "required_fields_and_types"),
        ({**stt(T0), "ts": "not a time"}, "required_fields_and_types"),
        ({**stt(T0), "ts": "2019-06-01T00:00:00.000+00:00"}, "ts_not_before_2020"),
        ({**stt(T0), "duration_ms": 700_000}, "stt_duration_range"),
        ({**stt(T0), "confidence": 1.5}, "stt_confidence_range"),
        ({**stt(T0), "transcript": "x" * 5001}, "stt_transcript_length"),
        (
            {
                **visual(T0),
                "detections": [{"label": "person", "confidence": 0.9, "bbox": [0.1, 0.2, 1.4, 0.1]}],
            },
            "visual_bbox_normalised",
        ),
        (
            {**visual(T0), "detections": [{"label": "cat", "confidence": 0.9, "bbox": [0, 0, 1, 1]}]},
            "visual_label_known",
        ),
        ({**heartbeat(T0), "cpu_pct": 140.0}, "heartbeat_cpu_pct"),
    ],
)
def test_bad_records_are_quarantined_with_the_rule_they_broke(rules: RuleSet, value: object, rule: str) -> None:
    assert _quarantined_rules(rules, value) == [rule]


def test_future_timestamp_is_judged_against_the_record_timestamp(rules: RuleSet) -> None:
    future = stt(T0 + 2 * 3_600_000)
    assert _quarantined_rules(rules, future, record_ts=T0) == ["ts_not_in_future"]
    assert _quarantined_rules(rules, future, record_ts=T0 + 2 * 3_600_000 - 5_000) == []


def test_a_record_breaking_several_rules_lists_them_all(rules: RuleSet) -> None:
    bad = {**stt(T0), "confidence": 3.0, "duration_ms": 900_000}
    assert sorted(_quarantined_rules(rules, bad)) == ["stt_confidence_range", "stt_duration_range"]


def test_quarantine_row_keeps_raw_payload_and_coordinates(rules: RuleSet) -> None:
    rec = record(b"{oops", record_ts=T0 + 5)
    row = Validator(rules).validate([rec]).quarantine_rows[0]
    assert (row.topic, row.partition, row.offset, row.record_ts) == (rec.topic, rec.partition, rec.offset, T0 + 5)
    assert row.payload == b"{oops"
    assert "invalid JSON" in row.reasons[0]


def test_warn_rules_keep_the_record_and_count(rules: RuleSet) -> None:
    result = Validator(rules).validate([record(stt(T0, text="")), record(stt(T0, text="hi po"))])
    assert len(result.accepted) == 2
    assert result.accepted[0].warnings == ("stt_transcript_not_empty",)
    counts = {r.rule: (r.passed, r.failed) for r in result.dq_rows if r.stream == "stt"}
    assert counts["stt_transcript_not_empty"] == (1, 1)
    assert counts["json_parse"] == (2, 0)


def test_dq_counts_add_up_per_stage(rules: RuleSet) -> None:
    recs = [record(b"{bad"), record({**stt(T0), "schema": "x/1"}), record(stt(T0))]
    rows = Validator(rules).validate(recs).dq_rows
    stt_counts = {r.rule: (r.passed, r.failed) for r in rows if r.stream == "stt"}
    assert stt_counts["json_parse"] == (2, 1)
    assert stt_counts["schema_known"] == (1, 1)
    assert stt_counts["required_fields_and_types"] == (1, 0)


def test_fail_action_stops_with_a_clear_error() -> None:
    strict = load_rules_text("rules: [{name: no_garbage, check: json, action: fail}]")
    with pytest.raises(QualityRuleFailure, match=r"no_garbage.*eh-pi-stt-raw/0@\d+"):
        Validator(strict).validate([record(b"garbage")])


def test_key_mismatch_is_a_warning(rules: RuleSet) -> None:
    result = Validator(rules).validate([record(stt(T0), key="SOMEONE-ELSE")])
    assert result.accepted[0].warnings == ("record_key_matches",)


def test_v2_transcripts_validate_like_v1(rules: RuleSet) -> None:
    v2 = {**stt(T0), "schema": "scout.stt/2", "speaker": "keeper", "ts": iso(T0)}
    v2.pop("audio_url")
    result = Validator(rules).validate([record(json.dumps(v2).encode())])
    assert [a.stream for a in result.accepted] == ["stt"]


def test_an_event_on_a_topic_not_configured_for_its_schema_is_kept_with_a_warning(rules: RuleSet) -> None:
    result = Validator(rules).validate([record(stt(T0), topic="eh-pi-visual-stream"), record(stt(T0))])
    assert [a.warnings for a in result.accepted] == [("topic_matches_schema",), ()]
    counted = {(r.scope, r.stream, r.rule): (r.passed, r.failed) for r in result.dq_rows}
    assert counted[("eh-pi-visual-stream/0", "stt", "topic_matches_schema")] == (0, 1)
    assert counted[("eh-pi-stt-raw/0", "stt", "topic_matches_schema")] == (1, 0)


def test_rules_are_counted_per_block_of_offsets_of_each_partition(rules: RuleSet) -> None:
    recs = [record(stt(T0), offset=o) for o in (PARTITION_BLOCK - 1, PARTITION_BLOCK, PARTITION_BLOCK + 1)]
    rows = Validator(rules).validate(recs).dq_rows
    counted = {(r.scope, r.block): (r.passed, r.failed, r.version) for r in rows if r.rule == "json_parse"}
    assert counted == {("eh-pi-stt-raw/0", 0): (1, 0, 1), ("eh-pi-stt-raw/0", 1): (2, 0, 2)}


def test_an_event_ahead_of_the_time_it_is_read_is_quarantined(rules: RuleSet) -> None:
    ahead = T0 + 2 * 3_600_000
    result = Validator(rules, now_ms=lambda: T0).validate([record(stt(ahead), record_ts=ahead), record(stt(T0))])
    assert len(result.accepted) == 1
    assert result.quarantine_rows[0].rules == ["ts_not_after_ingest"]


def test_no_exception_from_a_record_escapes_the_validator(rules: RuleSet) -> None:
    from scout_contract import SourceRecord

    weird = [
        SourceRecord("eh-pi-stt-raw", 2**40, -3, -1, "k", b"{}"),
        SourceRecord("", 0, 0, 0, None, b"[" * 50_000),
        SourceRecord("eh-pi-stt-raw", 0, 0, 0, None, b'{"schema": "scout.stt/1", "ts": "\xff"}'),
    ]
    result = Validator(rules).validate(weird)
    assert len(result.quarantine_rows) == 3 and not result.accepted
    assert [r.rules for r in result.quarantine_rows] == [["record_envelope"], ["record_envelope"], ["json_parse"]]
    q = result.quarantine_rows[0]
    assert (q.partition, q.offset, q.record_ts) == (-1, -1, 0)  # storable stand-ins; the reason names the originals
