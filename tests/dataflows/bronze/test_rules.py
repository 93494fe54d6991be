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
