"""Effectively once (#19, item 4): versions from the data, rule counts per block, the 0009 rebuild.

A killed run's rows, a resumed run's and a pod whose clock is behind may reach a table in any
order; the rows that win must be the ones with the most data, never the newest wall clock.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dataflows.simulator import SimConfig, simulate, write_topic_file
from tests.e2e.conftest import Scout, assert_same, migrations_before, snapshot

pytestmark = pytest.mark.slow


def test_stale_rows_written_later_with_a_newer_clock_lose(scout: Scout, tmp_path: Path) -> None:
    """What a killed run wrote for an unfinished epoch (fewer facts), or a pod whose clock is ahead of the
    one that wrote the full rows, arrives *after* the full rows: every table still reads as before."""
    events = tmp_path / "e.jsonl"
    write_topic_file(simulate(SimConfig(stores=1, devices_per_store=2, hours=2, seed=3, duplicate_rate=0.05)), events)
    scout.run(events)
    before = snapshot(scout)
    later = "now64(3) + INTERVAL 1 DAY"
    scout.command(
        # a partial row of every window: one fact fewer, written a day "later"
        "INSERT INTO gold_store_interaction_metrics SELECT * REPLACE (interactions - 1 AS interactions, "
        f"{later} AS updated_at, version - 1 AS version) FROM gold_store_interaction_metrics FINAL "
        "WHERE interactions > 0",
        "INSERT INTO gold_brand_performance SELECT * REPLACE (sightings - 1 AS sightings, "
        f"{later} AS updated_at, version - 1 AS version) FROM gold_brand_performance FINAL WHERE sightings > 0",
        "INSERT INTO gold_device_health_summary SELECT * REPLACE (heartbeats_received - 1 AS heartbeats_received, "
        f"{later} AS updated_at, version - 1 AS version) FROM gold_device_health_summary FINAL "
        "WHERE heartbeats_received > 1",
        # a heartbeat hour turned OFFLINE by a stale writer: an OFFLINE row's version is below any heartbeat hour's
        "INSERT INTO gold_device_health_summary SELECT * REPLACE (0 AS heartbeats_received, 'OFFLINE' AS status, "
        f"{later} AS updated_at, toUInt64(toUnixTimestamp64Milli(ifNull(last_seen, now64(3)))) AS version) "
        "FROM gold_device_health_summary FINAL WHERE heartbeats_received > 0 LIMIT 3",
        # a block's rule counts from before the last records of the block were counted
        f"INSERT INTO dq_rule_metrics SELECT * REPLACE ({later} AS minute, passed - 1 AS passed, "
        "version - 1 AS version) FROM dq_rule_metrics FINAL WHERE passed > 0",
    )
    assert_same(before, snapshot(scout))
    assert all(t["ok"] for t in scout.verify())
    [dups] = scout.query("SELECT sum(failed) AS n FROM dq_rule_metrics FINAL WHERE rule = 'unique_event_id'")
    assert dups["n"] > 0


def test_the_0009_rebuild_keeps_an_older_warehouse_rows(scout: Scout, tmp_path: Path) -> None:
    """Migrations up to 0008 with rows in them (two versions of a gold row, per-minute rule counts, a
    freshness row), then 0009: the winning gold row keeps winning, rule counts add up as before."""
    old = migrations_before("0009", tmp_path / "old-migrations")
    code = f"""
import sys
from pathlib import Path
from dataflows.warehouse import connect, migrate
c = connect(sys.argv[1], create=True)
migrate(c, Path({str(old)!r}))
gold = "INSERT INTO gold_store_interaction_metrics (store_id, window_start, window_end, interactions, active_devices,"
gold += " updated_at) VALUES ('S', '2025-05-19 08:00:00', '2025-05-19 09:00:00', {{n}}, 2, '2025-05-19 10:00:0{{s}}')"
c.command(gold.format(n=7, s=1))
c.command(gold.format(n=9, s=2))
for passed, failed in ((10, 1), (5, 0)):
    c.command(f"INSERT INTO dq_rule_metrics VALUES ('2025-05-19 08:01:00', 'stt', 'json_parse', 'drop', {{passed}},"
              f" {{failed}})")
c.command("INSERT INTO pipeline_freshness VALUES ('bronze', 'stt', now64(3), now64(3), 3)")
migrate(c)
print(c.command("SELECT toString(tuple(interactions, version)) FROM gold_store_interaction_metrics FINAL"))
print(c.command("SELECT concat(toString(sum(passed)), ',', toString(sum(failed)), ',', any(scope))"
                " FROM dq_rule_metrics FINAL"))
print(c.command("SELECT count() FROM pipeline_freshness_status"))
print(c.command("SELECT engine_full FROM system.tables WHERE name = 'gold_brand_performance'"))
print(c.command("SELECT count() FROM system.columns WHERE table = 'pipeline_freshness_status' AND name = 'rows'"))
"""
    out = subprocess.run([sys.executable, "-c", code, scout.sink], capture_output=True, text=True, check=True,
                         timeout=120, cwd=tmp_path).stdout.splitlines()  # fmt: skip
    assert out[0] == "(9,11)"  # the newer row kept; version = interactions + active devices
    assert out[1] == "15,1,before-0009"
    assert out[2] == "1" and "ReplacingMergeTree(version)" in out[3] and out[4] == "0"
    assert "up to date" in scout("db", "migrate", "--sink", scout.sink).stdout
