"""The compiled (C) fast path must give exactly the verdicts of the Python rules."""

from __future__ import annotations

from dataflows.bronze.rules import RuleSet
from dataflows.bronze.strict import strict_types
from dataflows.bronze.validate import Validator
from dataflows.simulator import SimConfig, simulate
from scout_contract import SttV1, VisualV1
from tests.factories import NOW, break_ranges


def test_fast_and_slow_paths_agree(rules: RuleSet) -> None:
    cfg = SimConfig(stores=2, devices_per_store=2, hours=0.3, malformed_rate=0.05, seed=3)
    records = break_ranges(list(simulate(cfg)), seed=3)
    fast = Validator(rules, now_ms=lambda: NOW).validate(records)
    slow = Validator(rules, now_ms=lambda: NOW, strict=False).validate(records)
    assert len(fast.quarantine_rows) > 50, "the mutations must actually break rules"
    assert [(a.event.event_id, a.warnings) for a in fast.accepted] == [
        (a.event.event_id, a.warnings) for a in slow.accepted
    ]
    assert fast.quarantine_rows == slow.quarantine_rows
    assert sorted(fast.dq_rows, key=repr) == sorted(slow.dq_rows, key=repr)


def test_strict_types_keep_isinstance_and_tags(rules: RuleSet) -> None:
    types, compiled = strict_types(rules.record_rules)
    by_stream = {stream: t for t, stream in types.items()}
    assert issubclass(by_stream["visual"], VisualV1) and by_stream["visual"].__struct_config__.tag == "scout.visual/1"
    assert any(issubclass(t, SttV1) for t in types)
    assert {"visual_bbox_normalised", "stt_confidence_range"} <= compiled
    assert "visual_label_known" not in compiled  # a regex per label is slower than the Python predicate
    assert "ts_not_in_future" not in compiled  # needs the record: stays a Python predicate
