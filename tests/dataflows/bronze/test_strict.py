"""The compiled (C) fast path must give exactly the verdicts of the Python rules."""

from __future__ import annotations

import random

import msgspec

from dataflows.bronze.rules import RuleSet
from dataflows.bronze.strict import strict_types
from dataflows.bronze.validate import Validator
from dataflows.simulator import SimConfig, simulate
from scout_contract import SourceRecord, SttV1, VisualV1
from tests.factories import NOW


def _mutations(records: list[SourceRecord], seed: int) -> list[SourceRecord]:
    """Push random fields out of their ranges, as a faulty device would."""
    rng = random.Random(seed)
    out = []
    for rec in records:
        try:
            obj = msgspec.json.decode(rec.value)
        except msgspec.DecodeError:
            out.append(rec)
            continue
        if isinstance(obj, dict) and rng.random() < 0.2:
            if obj.get("detections"):
                det = rng.choice(obj["detections"])
                det[rng.choice(["confidence", "bbox", "label"])] = rng.choice(
                    [1.5, -0.1, [0.1, 0.2, 0.3], [0.1, 0.2, 3.0, 0.1], "cat", "brand:", "face\n", "brand:x\ny"]
                )
            for key, bad in (("duration_ms", 900_000), ("confidence", 2.0), ("cpu_pct", 150.0), ("transcript", "")):
                if key in obj and rng.random() < 0.3:
                    obj[key] = bad
            out.append(msgspec.structs.replace(rec, value=msgspec.json.encode(obj)))
            continue
        out.append(rec)
    return out


def test_fast_and_slow_paths_agree(rules: RuleSet) -> None:
    cfg = SimConfig(stores=2, devices_per_store=2, hours=0.3, malformed_rate=0.05, seed=3)
    records = _mutations(list(simulate(cfg)), seed=3)
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
