"""Kafka messages as records (no broker needed): what hostile envelopes become."""

from __future__ import annotations

from dataflows.bronze.rules import RuleSet
from dataflows.bronze.validate import Validator
from dataflows.sources.kafka import to_record
from tests.factories import NOW, T0


def test_a_record_with_no_value_or_a_key_that_is_not_text_is_quarantined_with_its_coordinates(
    rules: RuleSet,
) -> None:
    tombstone = to_record("eh-pi-stt-raw", 2, 17, T0, b"SCOUTPI-0001", None)
    bad_key = to_record("eh-pi-stt-raw", 2, 18, T0, b"\xc3\x28", b'{"schema": "scout.stt/1"}')
    no_time = to_record("eh-pi-stt-raw", 2, 19, -1, None, b"{}")
    result = Validator(rules, now_ms=lambda: NOW).validate([tombstone, bad_key, no_time])
    rows = [r._asdict() for r in result.quarantine_rows]
    assert [(r["offset"], r["rules"]) for r in rows] == [
        (17, ["json_parse"]), (18, ["record_envelope"]), (19, ["schema_known"]),
    ]  # fmt: skip
    assert "hex c328" in str(rows[1]["reasons"]) and rows[1]["payload"] == b'{"schema": "scout.stt/1"}'
    assert no_time.timestamp_ms == 0  # "no timestamp" (-1) is stored as 0, never as an impossible value
