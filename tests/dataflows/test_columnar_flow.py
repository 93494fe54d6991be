"""The columnar engine's Bytewax wiring, run with ``bytewax.testing`` (no ClickHouse): its inputs
(records, or a topic file's lines) and the machine without the compiled module give the same rows."""

from __future__ import annotations

from typing import Any

import pytest
from bytewax.testing import TestingSink, TestingSource, run_main
from structlog.testing import capture_logs

import dataflows.columnar_flow
from dataflows.bronze.rules import RuleSet
from dataflows.columnar_flow import build_columnar_flow
from dataflows.config import WindowConfig
from dataflows.silver.annotate import Lexicon
from dataflows.simulator import SimConfig, simulate
from dataflows.sources.file import LineBatch, file_topic
from dataflows.tables import COLUMNS, TableRows
from scout_contract import SourceRecord, encode_record_line
from tests.factories import NOW, hostile_lines

Tables = dict[str, list[tuple[Any, ...]]]


def _line_batches(tmp_path: Any) -> list[LineBatch]:
    """A simulated topic file's lines (with hostile ones) cut into blocks, as the line source gives them."""
    cfg = SimConfig(stores=2, devices_per_store=2, hours=0.5, seed=9, malformed_rate=0.02, duplicate_rate=0.02)
    valid = [encode_record_line(r) for r in simulate(cfg)]
    hostile = iter(hostile_lines(valid, len(valid) // 10 + 1, seed=4))
    lines = [line + b"\n" for i, v in enumerate(valid) for line in ([v, next(hostile)] if i % 10 == 5 else [v])]
    topic = file_topic(tmp_path / "in.jsonl")
    batches, base, size = [], 0, 700
    for i in range(0, len(lines), size):
        buffer = b"".join(lines[i : i + size])
        batches.append(LineBatch(topic, "in.jsonl", buffer, base))
        base += len(buffer)
    return batches


def _run(batches: list[list[SourceRecord]] | list[LineBatch], rules: RuleSet, lexicon: Lexicon) -> Tables:
    out: list[tuple[str, TableRows]] = []
    source: TestingSource[list[SourceRecord] | LineBatch] = TestingSource(batches)
    flow = build_columnar_flow(source, TestingSink(out), rules, lexicon, WindowConfig(), now_ms=lambda: NOW)
    run_main(flow)
    tables: Tables = {}
    for _key, item in out:
        for table, rows in item.rows.items():
            tables.setdefault(table, []).extend(tuple(r) for r in rows)
        for table, arrows in item.columns.items():
            for arrow in arrows:
                rows_ = arrow.select(list(COLUMNS[table])).to_pylist()
                tables.setdefault(table, []).extend(tuple(r.values()) for r in rows_)
    return {t: sorted(rows, key=repr) for t, rows in tables.items()}


def test_lines_records_and_no_compiled_module_give_the_same_tables(
    tmp_path: Any, rules: RuleSet, lexicon: Lexicon, monkeypatch: pytest.MonkeyPatch
) -> None:
    line_batches = _line_batches(tmp_path)
    record_batches = [b.records() for b in line_batches]
    from_lines = _run(line_batches, rules, lexicon)
    from_records = _run(record_batches, rules, lexicon)
    assert from_lines == from_records
    assert len(from_lines["quarantine_events"]) > 10 and len(from_lines["late_events"]) > 0
    bronze = sum(len(rows) for t, rows in from_lines.items() if t.startswith("bronze"))
    assert 0.8 * sum(len(b.lines()) for b in line_batches) < bronze + len(from_lines["quarantine_events"])
    monkeypatch.setattr(dataflows.columnar_flow, "compiled_decoder", lambda _validator: None)
    with capture_logs() as logs:
        without = _run(line_batches, rules, lexicon)
    assert without == from_lines
    assert any("scout_decode) is not built here" in e["event"] for e in logs if e["log_level"] == "warning")
