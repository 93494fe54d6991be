"""The writer process: rows in, the same rows in chDB; failures become one clear error.

The test process never opens chDB itself (a chDB directory belongs to one process): the writer
process does, and the rows are read back with ``scout db query`` after it has exited.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from dataflows.bronze.rules import RuleSet
from dataflows.bronze.validate import Validator
from dataflows.config import WindowConfig
from dataflows.silver.annotate import Lexicon
from dataflows.silver.event_clock import DeviceClock
from dataflows.sinks.writer import ProcessWriter, arrivals, decode_batch, encode_batch
from dataflows.tables import TABLES, BronzeSttRow, BronzeVisualRow, DqRow, TableRows
from dataflows.warehouse import ClientSpec, WarehouseError
from tests.factories import NOW, T0, heartbeat, record, stt, visual

pytestmark = pytest.mark.slow


def _rows(rules: RuleSet, lexicon: Lexicon) -> TableRows:
    """Real rows of several tables: bronze, silver, late, dq."""
    recs = [record(visual(T0 + i * 500, event_id=f"v-{i}")) for i in range(40)]
    recs += [record(stt(T0 + 1_000)), record(heartbeat(T0 + 2_000)), record(stt(T0 - 60_000, event_id="late"))]
    clock = DeviceClock(WindowConfig(), lexicon)
    out = clock.process(Validator(rules, now_ms=lambda: NOW).validate(recs).accepted, NOW)
    out.rows.merge(clock.flush(NOW).rows)
    return out.rows


def _query(sink: str, sql: str) -> list[dict[str, object]]:
    proc = subprocess.run([sys.executable, "-m", "scout_cli", "db", "query", sql, "--sink", sink],
                          capture_output=True, text=True, check=True, timeout=120)  # fmt: skip
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def test_encoding_round_trips_every_table(rules: RuleSet, lexicon: Lexicon) -> None:
    rows = _rows(rules, lexicon)
    assert len(rows.rows) >= 6
    back = decode_batch(encode_batch(rows))
    for table, original in rows.rows.items():
        assert back.rows[table] == original and all(type(r) is TABLES[table].row for r in back.rows[table])


def test_rows_through_the_writer_process_land_in_chdb(tmp_path: Path, rules: RuleSet, lexicon: Lexicon) -> None:
    sink = f"chdb://{tmp_path / 'ch'}"
    rows = _rows(rules, lexicon)
    written: dict[str, int] = {}

    def on_write(counts: dict[str, int]) -> None:
        for t, n in counts.items():
            written[t] = written.get(t, 0) + n

    timed_before = REGISTRY.get_sample_value("scout_bronze_visible_seconds_count") or 0.0
    gold_before = REGISTRY.get_sample_value("scout_gold_visible_seconds_count") or 0.0
    rows.arrived.extend([1_000, 2_000])  # two gold batches among the rows, their oldest records' timestamps
    with ProcessWriter(ClientSpec(sink, create=True), on_write) as writer:
        assert writer.migrated  # a new warehouse: the writer applied the migrations
        for _ in range(3):  # the same rows three times: inserted three times, replaced by the keys
            writer.submit(rows)
        writer.wait()
    assert written == {t: 3 * len(r) for t, r in rows.rows.items()}
    # freshness: a sample of the bronze rows timed from their record timestamps once acknowledged
    timed = (REGISTRY.get_sample_value("scout_bronze_visible_seconds_count") or 0.0) - timed_before
    assert timed == 3 * len(arrivals(rows)[0]) > 0
    # and each gold batch from its oldest record's timestamp
    assert (REGISTRY.get_sample_value("scout_gold_visible_seconds_count") or 0.0) - gold_before == 3 * 2
    [visual_rows] = _query(sink, "SELECT count() AS n, max(ts) AS newest FROM bronze_visual_stream FINAL")
    mine = rows.of(BronzeVisualRow)
    assert visual_rows["n"] == len(mine) == 40
    stored = _query(sink, "SELECT event_id, late FROM bronze_stt_raw FINAL ORDER BY event_id")
    assert [(r["event_id"], r["late"]) for r in stored] == sorted((r.event_id, r.late) for r in rows.of(BronzeSttRow))
    [dq] = _query(sink, "SELECT sum(passed) AS passed FROM dq_rule_metrics FINAL")
    assert dq["passed"] == sum(r.passed for r in rows.of(DqRow)) > 0  # rule counts are replaced too


def test_a_warehouse_that_cannot_be_opened_is_one_clear_error(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    with (
        pytest.raises(WarehouseError, match="is a file, not a chDB directory"),
        ProcessWriter(ClientSpec(f"chdb://{not_a_dir}", create=True)),
    ):
        pass  # pragma: no cover


def test_a_refused_insert_stops_the_run_with_the_engine_message(tmp_path: Path) -> None:
    bad = TableRows()
    bad.add(
        DqRow(minute=T0, stream="stt", rule="r", action="drop", scope="t/0", block=0, passed=-1, failed=0, version=0)
    )  # UInt64 column
    with ProcessWriter(ClientSpec(f"chdb://{tmp_path / 'ch'}", create=True)) as writer:
        writer.submit(bad)
        with pytest.raises(WarehouseError, match="writing to the warehouse failed"):
            writer.wait()


def test_a_writer_that_dies_is_noticed_not_waited_for(tmp_path: Path, rules: RuleSet, lexicon: Lexicon) -> None:
    rows = _rows(rules, lexicon)
    with (
        pytest.raises(WarehouseError, match="ended unexpectedly"),
        ProcessWriter(ClientSpec(f"chdb://{tmp_path / 'ch'}", create=True)) as writer,
    ):
        assert writer.pid is not None
        os.kill(writer.pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # bounded: the next hand-off or wait notices
            writer.submit(rows)
            writer.wait()
