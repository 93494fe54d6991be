"""Late events kept in bronze, reconciled by ``scout replay --from-bronze``; the bronze rebuild migration."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dataflows.simulator import SimConfig, simulate, write_topic_file
from tests.e2e.conftest import Scout, migrations_before
from tests.factories import T0, record, stt, visual, write_records

pytestmark = pytest.mark.slow


def test_a_late_event_is_in_bronze_marked_and_counted_after_a_replay_from_bronze(scout: Scout, tmp_path: Path) -> None:
    recs = [record(visual(T0 + i * 1_000)) for i in range(30)]
    recs.append(record(stt(T0 + 2_000, event_id="late-hello", text="Magandang umaga po")))  # 28 s behind: late
    scout.run(write_records(tmp_path / "e.jsonl", recs))
    late = "SELECT late FROM bronze_stt_raw FINAL WHERE event_id = 'late-hello'"
    utterances = "SELECT sum(utterances) AS n FROM gold_transcript_sentiment_analysis FINAL"
    logged = "SELECT count() AS n FROM late_events FINAL WHERE event_id = 'late-hello'"
    before = scout.query_many({"late": late, "utterances": utterances, "logged": logged})
    assert before == {"late": [{"late": True}], "utterances": [{"n": 0}], "logged": [{"n": 1}]}
    assert all(t["ok"] for t in scout.verify())  # verify leaves late rows out, as the stream did

    scout("replay", "--from-bronze", "--since", "2025-05-19T08:00:00Z", "--until", "2025-05-19T09:00:00Z", "--sink",
          scout.sink)  # fmt: skip
    after = scout.query_many({"late": late, "utterances": utterances, "logged": logged})
    assert after == {"late": [{"late": False}], "utterances": [{"n": 1}], "logged": [{"n": 1}]}
    [it] = scout.query("SELECT n_utterances, n_frames FROM silver_multimodal_aligned FINAL")
    assert it == {"n_utterances": 1, "n_frames": 30}  # the utterance joined its session
    assert all(t["ok"] for t in scout.verify())


def test_a_replay_from_bronze_of_a_whole_simulated_day_agrees_with_verify(scout: Scout, tmp_path: Path) -> None:
    events = tmp_path / "e.jsonl"
    write_topic_file(simulate(SimConfig(stores=1, devices_per_store=2, hours=1, seed=5, late_rate=0.03)), events)
    scout.run(events)
    [c] = scout.query("SELECT countIf(late) AS late FROM bronze_visual_stream FINAL")
    assert c["late"] > 10
    scout("replay", "--from-bronze", "--since", "2025-05-19T00:00:00Z", "--until", "2025-05-19T01:00:00Z", "--sink",
          scout.sink)  # fmt: skip
    assert scout.query("SELECT countIf(late) AS late FROM bronze_visual_stream FINAL") == [{"late": 0}]
    assert all(t["ok"] for t in scout.verify())


def test_the_bronze_rebuild_keeps_the_rows_of_a_warehouse_made_before_it(scout: Scout, tmp_path: Path) -> None:
    """Migrations 0001-0006 (an older warehouse) with rows in it, then 0007: every row is still there."""
    old = migrations_before("0007", tmp_path / "old-migrations")
    code = f"""
import sys
from dataflows.warehouse import connect, migrate
from pathlib import Path
c = connect(sys.argv[1], create=True)
migrate(c, Path({str(old)!r}))
c.command("INSERT INTO bronze_stt_raw (event_id, device_id, store_id, ts, payload, ingested_at)"
          " VALUES ('e-old', 'SCOUTPI-0001', 'STORE-0001', now64(3), '{{}}', now64(3))")
migrate(c)
print(c.command("SELECT toString(tuple(count(), countIf(late))) FROM bronze_stt_raw FINAL WHERE event_id = 'e-old'"))
print(c.command("SELECT engine_full FROM system.tables WHERE name = 'bronze_stt_raw'"))
"""
    out = subprocess.run([sys.executable, "-c", code, scout.sink], capture_output=True, text=True, check=True,
                         timeout=120, cwd=tmp_path).stdout  # fmt: skip
    assert "(1,0)" in out and "ReplacingMergeTree(version)" in out
    again = scout("db", "migrate", "--sink", scout.sink).stdout
    assert "up to date" in again  # applied once, never again
