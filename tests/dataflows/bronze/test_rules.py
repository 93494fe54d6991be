from __future__ import annotations

import pytest

from dataflows.bronze.rules import RulesError, RuleSet, load_rules_text


def test_shipped_rules_cover_the_spec(rules: RuleSet) -> None:
    names = {r.name for r in rules.record_rules} | {s.name for s in rules.stage_rules.values()}
    for required in (
        "json_parse", "schema_known", "required_fields_and_types", "ts_not_before_2020", "ts_not_in_future",
        "stt_duration_range", "stt_confidence_range", "visual_bbox_normalised",
    ):  # fmt: skip
        assert required in names


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules: [{name: a, check: nope, action: drop}]", "unknown check"),
        ("rules: [{name: a, check: json, action: warn}]", "cannot be kept"),
        ("rules: [{name: a, check: json, action: drop}, {name: a, check: contract, action: drop}]", "twice"),
        ("rules: [{name: a, check: range, field: x, action: explode}]", "action must be"),
        ("rules: [{name: a, streams: [smell], check: range, field: x, action: drop}]", "unknown streams"),
        ("rules: [{name: a, check: range, action: drop}]", "needs a 'field'"),
        ("just text", "mapping with a 'rules' list"),
    ],
)
def test_invalid_rules_files_are_refused_clearly(text: str, message: str) -> None:
    with pytest.raises(RulesError, match=message):
        load_rules_text(text)


def test_the_fused_check_agrees_with_every_rule_one_by_one(rules: RuleSet) -> None:
    """``all_pass`` (one generated function per stream) is True exactly when every rule's own
    predicate is: on simulated events whose key, topic, record time and event time are pushed
    past each rule's edges, and on edited rules (other bounds, every check kind)."""
    import random
    from datetime import UTC, datetime

    import msgspec

    from dataflows.bronze.rules import RuleContext, all_pass
    from dataflows.simulator import SimConfig, simulate
    from scout_contract import decode_event, stream_of, ts_millis
    from tests.factories import NOW

    edited = load_rules_text(
        "rules:\n"
        "  - {name: a, check: ts_min, min: '2025-05-19T00:10:00Z', action: drop}\n"
        "  - {name: b, check: ts_max_skew, max_seconds: 1, action: warn}\n"
        "  - {name: c, check: ts_max_ahead_of_ingest, max_seconds: 0.5, action: drop}\n"
        "  - {name: d, check: key_matches, action: warn}\n"
        "  - {name: e, check: topic_matches_schema, action: warn}\n"
        "  - {name: f, streams: [visual], check: in_set, field: 'detections[].zone', values: [shelf], action: drop}\n"
    )
    rng = random.Random(11)
    edge = ts_millis(datetime(2025, 5, 19, 0, 10, tzinfo=UTC))
    topics = {"eh-pi-visual-stream": "visual", "eh-pi-stt-raw": "stt", "eh-pi-device-heartbeat": "heartbeat"}
    checked = {True: 0, False: 0}
    for original in simulate(SimConfig(stores=2, devices_per_store=2, hours=0.2, seed=5)):
        try:
            event = decode_event(original.value)
        except msgspec.MsgspecError:
            continue
        stream, ts = stream_of(event), ts_millis(event.ts)
        ts = rng.choice([ts, ts, ts + 700, -(10**12), edge])  # edge: exactly rule a's bound
        rec = msgspec.structs.replace(
            original,
            key=rng.choice([original.key, original.key, "SCOUTPI-9999", None]),
            topic=rng.choice([original.topic, original.topic, "eh-pi-stt-raw", "other"]),
            # exactly at, and just past, rule b's bound (1 s) and the shipped rule's (3600 s)
            timestamp_ms=rng.choice([original.timestamp_ms, ts - 1_000, ts - 1_001, ts - 3_600_000, ts - 3_600_001]),
        )
        # exactly at, and just past, rule c's bound (0.5 s) and the shipped rule's (3600 s)
        ctx = RuleContext(rng.choice([NOW, ts, ts - 500, ts - 501, ts - 3_600_000, ts - 3_600_001]), topics)
        for ruleset in (rules, edited):
            own = ruleset.for_stream(stream)
            expected = all(r.passes(event, rec, ts, ctx) for r in own)
            assert all_pass(own, stream)(event, rec, ts, ctx) is expected, (stream, rec, ts)
            checked[expected] += 1
    assert checked[True] > 100 and checked[False] > 100, checked
