"""ClickHouse failing for 30 s in the middle of a run (#19, item 4): waited out, nothing lost, nothing twice.

The fault is injected at the client boundary, in the writer process itself: a ``sitecustomize`` on the
run's ``PYTHONPATH`` (Python imports it in every process, the spawned writer too) makes
``clickhouse_connect``'s ``Client.insert`` raise ``OperationalError`` — what a refused connection
raises — for 30 s from the first insert into a data table. No ClickHouse server runs here; the
network errors of a real one (timeouts, resets) reach the same retry through the same exception types
(``dataflows.warehouse.is_transient``), which is not covered beyond this.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dataflows.simulator import SimConfig, simulate, write_topic_file
from tests.e2e.conftest import Scout, assert_same, snapshot

pytestmark = pytest.mark.slow

OUTAGE_S = 30

_SITECUSTOMIZE = """
import os, time
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import OperationalError

_insert = Client.insert
_state = {"until": None, "refused": 0}
_log = os.environ["SCOUT_TEST_OUTAGE_LOG"]


def insert(self, table, *args, **kwargs):
    if table not in ("schema_migrations", "warehouse_settings"):
        now = time.monotonic()
        if _state["until"] is None:
            _state["until"] = now + float(os.environ["SCOUT_TEST_OUTAGE_S"])
        if now < _state["until"]:
            _state["refused"] += 1
            with open(_log, "a") as f:
                f.write(f"{os.getpid()} {table}\\n")
            raise OperationalError("injected: connection refused")
    return _insert(self, table, *args, **kwargs)


Client.insert = insert
"""


def test_thirty_seconds_without_clickhouse_are_waited_out_exactly(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    write_topic_file(simulate(SimConfig(stores=2, devices_per_store=2, hours=1, seed=11)), events)
    clean = Scout(tmp_path / "clean")
    clean.workdir.mkdir()
    clean.run(events)

    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    refused = tmp_path / "refused.log"
    env = {
        "PYTHONPATH": os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")]),
        "SCOUT_TEST_OUTAGE_S": str(OUTAGE_S),
        "SCOUT_TEST_OUTAGE_LOG": str(refused),
    }
    outage = Scout(tmp_path / "outage")
    outage.workdir.mkdir()
    proc = outage("run", "--source", f"file:{events}", "--sink", outage.sink, "--no-summary", env=env, timeout=600)
    assert proc.returncode == 0
    attempts = refused.read_text().splitlines()
    assert len(attempts) >= 5, "the outage was injected and retried"
    assert "insert failed; retrying" in proc.stdout + proc.stderr
    assert_same(snapshot(clean), snapshot(outage))
    assert all(t["ok"] for t in outage.verify())
