"""One device's clock cannot harm its store-mates (issue #19, item 5; docs/architecture.md, "Store clock").

A Pi has no real-time clock: a device 3 days ahead stamps its events *and* their record timestamps 3
days ahead, one 3 days behind the same way back. Among healthy store-mates, neither may move the
store's gold clock: the healthy devices' bronze, silver and gold rows are those of a run without the
skewed devices (rows of the store's own windows included), and the skewed devices' heartbeats are
counted under the ``clock_skew`` rule. The input is replayed history, so the ingest-time rule
(``ts_not_after_ingest``), which quarantines a clock ahead of the present in a live run, does not see it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dataflows.simulator import SimConfig, simulate, write_topic_file
from dataflows.tables import TABLES
from tests.e2e.conftest import Scout, snapshot

pytestmark = pytest.mark.slow

DAYS_3 = 3 * 24 * 3_600_000
#: one store, four devices: SCOUTPI-0004 stops half way (a real outage: its OFFLINE rows must stay)
_SIM = SimConfig(stores=1, devices_per_store=4, hours=3, seed=41, malformed_rate=0.0)
SKEW = {"SCOUTPI-0001": DAYS_3, "SCOUTPI-0002": -DAYS_3}


def _iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ms(iso: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def _write(path: Path, skewed: bool) -> None:
    """The simulated store; ``skewed``: with SCOUTPI-0001 3 days ahead and -0002 3 days behind,
    else without those two devices."""
    lines = []
    plain = path.with_suffix(".plain")
    write_topic_file(simulate(_SIM), plain)
    for line in plain.read_bytes().splitlines():
        rec = json.loads(line)
        value = rec["value"]
        shift = SKEW.get(value.get("device_id", "")) if isinstance(value, dict) else None
        if shift is None:
            lines.append(line)
        elif skewed:
            value["ts"] = _iso(_ms(value["ts"]) + shift)
            rec["timestamp_ms"] += shift
            lines.append(json.dumps(rec, separators=(",", ":")).encode())
    path.write_bytes(b"\n".join(lines) + b"\n")


def _rows(snap: dict[str, list[str]], table: str) -> list[dict[str, Any]]:
    return [json.loads(r) for r in snap[table]]


def test_skewed_devices_leave_their_healthy_store_mates_rows_unchanged(tmp_path: Path) -> None:
    runs = {}
    for name, with_skew in (("clean", False), ("skewed", True)):
        scout = Scout(tmp_path / name)
        scout.workdir.mkdir()
        events = scout.workdir / "events.jsonl"
        _write(events, with_skew)
        scout.run(events)
        runs[name] = scout
    clean, skewed = snapshot(runs["clean"]), snapshot(runs["skewed"])
    assert _rows(clean, "gold_device_health_summary") and _rows(clean, "late_events")
    offline = [r for r in _rows(clean, "gold_device_health_summary") if r["status"] == "OFFLINE"]
    assert {r["device_id"] for r in offline} == {"SCOUTPI-0004"}, "the outage shows in the clean run"
    for table, t in TABLES.items():
        if table == "dq_rule_metrics":
            continue  # counts per block of records: the skewed devices' records are in the same blocks
        want, got = _rows(clean, table), _rows(skewed, table)
        if "device_id" in t.columns:
            got_healthy = [r for r in got if r["device_id"] not in SKEW]
            assert got_healthy == want, f"{table}: the healthy devices' rows changed"
        else:  # store-level windows: the clean ones unchanged; the skewed devices' own windows elsewhere
            assert [r for r in got if r in want] == want, f"{table}: a window of the healthy devices changed"
            if want and "window_start" in want[0]:
                span = min(r["window_start"] for r in want), max(r["window_start"] for r in want)
                extra = [r for r in got if r not in want]
                assert all(not span[0] <= r["window_start"] <= span[1] for r in extra), table
    [dq] = runs["skewed"].query(
        "SELECT sum(failed) AS failed, sum(passed) AS passed FROM dq_rule_metrics FINAL WHERE rule = 'clock_skew'"
    )
    assert dq["failed"] > 0 and dq["passed"] > 0
    # the device-health column flags the device ahead (the healthy ones: 0, above). Not the device behind:
    # the input reaches the gold step in one batch, judged in time order, where it comes before any
    # store-mate and has no majority against it (from a live feed's later batches, it would be flagged)
    ahead = [
        r["skewed_heartbeats"] for r in _rows(skewed, "gold_device_health_summary") if r["device_id"] == "SCOUTPI-0001"
    ]
    assert sum(ahead) > 0
    # the store's heartbeat hour and OFFLINE rows: the batch oracle agrees (store windows the device behind
    # contributed to after their eviction differ by design: docs/architecture.md, "Gold retention")
    checks = {check["table"]: check for check in runs["skewed"].verify()}
    assert checks["gold_device_health_summary"]["ok"], checks["gold_device_health_summary"]


def test_a_store_whose_devices_die_follows_the_one_left(tmp_path: Path) -> None:
    """Two of a store's three devices stop after its first hour; the third runs on for seven hours, past
    the tolerance (4 h here). The dead ones retire from the vote (2 h behind), so the live device's clock
    stays the store's: its heartbeats are not counted as skewed, the dead devices' OFFLINE hours run to
    the live device's last heartbeat hour, and ``scout db verify`` computes the same."""
    sim = SimConfig(stores=1, devices_per_store=3, hours=8, seed=43, malformed_rate=0.0, silent_devices=0)
    scout = Scout(tmp_path)
    plain, events = tmp_path / "plain.jsonl", tmp_path / "events.jsonl"
    write_topic_file(simulate(sim), plain)
    dead, lines = ("SCOUTPI-0001", "SCOUTPI-0002"), []
    first_ts: int | None = None
    for line in plain.read_bytes().splitlines():
        value = json.loads(line)["value"]
        ts = _ms(value["ts"]) if isinstance(value, dict) and "ts" in value else None
        if ts is not None:
            first_ts = ts if first_ts is None else min(first_ts, ts)
            if value.get("device_id") in dead and ts - first_ts >= 3_600_000:
                continue
        lines.append(line)
    events.write_bytes(b"\n".join(lines) + b"\n")
    env = {"SCOUT_CLOCK_SKEW_H": "4", "SCOUT_DEVICE_RETIRE_H": "2"}
    scout("run", "--source", f"file:{events}", "--sink", scout.sink, "--no-summary", env=env)
    rows = scout.query(
        "SELECT device_id, max(window_start) AS last, countIf(status = 'OFFLINE') AS offline "
        "FROM gold_device_health_summary FINAL GROUP BY device_id ORDER BY device_id"
    )
    last = {r["device_id"]: r["last"] for r in rows}
    assert last["SCOUTPI-0001"] == last["SCOUTPI-0002"] == last["SCOUTPI-0003"], rows
    assert all(r["offline"] >= 5 for r in rows if r["device_id"] in dead), rows
    [dq] = scout.query("SELECT sum(failed) AS failed FROM dq_rule_metrics FINAL WHERE rule = 'clock_skew'")
    assert int(dq["failed"]) == 0
    assert all(check["ok"] for check in scout.verify(env)), "scout db verify disagrees"
