"""Bytewax's recovery store read and repaired (dataflows/recovery_store.py), on stores Bytewax itself wrote.

The defect repaired: a killed run leaves snapshots of epochs it never finished; a resumed run that does
not touch a key before it is killed again leaves that key's stale snapshot in place, and the next resume
loads it. The control run below shows Bytewax 0.21 loading such a snapshot; the repaired run does not.
"""

from __future__ import annotations

import pickle
import sqlite3
from datetime import timedelta
from pathlib import Path

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSink, TestingSource, run_main

from dataflows.config import Settings
from dataflows.recovery_store import committed_epoch, discard_unfinished_snapshots, resume_epoch
from dataflows.runner import run_flow

Item = tuple[str, int] | TestingSource.ABORT
#: the step id under which Bytewax stores ``stateful_map``'s state
STEP = "count.count.stateful_flat_map.stateful.stateful_batch"


def _counting_flow(items: list[Item], out: list[tuple[str, int]]) -> Dataflow:
    """A running count per key: its state is what a resume must restore exactly."""
    flow = Dataflow("count")
    keyed = op.input("inp", flow, TestingSource(items))

    def add(total: int | None, value: int) -> tuple[int, int]:
        total = (total or 0) + value
        return total, total

    op.output("out", op.stateful_map("count", keyed, add), TestingSink(out))
    return flow


def _snaps(db: Path, key: str) -> list[tuple[int, bytes]]:
    rows: list[tuple[int, bytes]] = []
    for part in sorted(db.glob("part-*.sqlite3")):
        conn = sqlite3.connect(part)
        try:
            rows += conn.execute(
                "SELECT snap_epoch, ser_change FROM snaps WHERE step_id = ? AND state_key = ?", (STEP, key)
            ).fetchall()
        finally:
            conn.close()
    return rows


def _plant_stale_snapshot(db: Path, key: str, epoch: int, state: int) -> None:
    """What a killed run leaves behind: ``key``'s snapshot of an epoch it never finished."""
    for part in sorted(db.glob("part-*.sqlite3")):
        conn = sqlite3.connect(part)
        try:
            with conn:
                found = conn.execute(
                    "SELECT count() FROM snaps WHERE step_id = ? AND state_key = ?", (STEP, key)
                ).fetchone()[0]
                if found:
                    conn.execute(
                        "INSERT INTO snaps (step_id, state_key, snap_epoch, ser_change) VALUES (?, ?, ?, ?)",
                        (STEP, key, epoch, pickle.dumps(state)),
                    )
        finally:
            conn.close()


def _scenario(tmp_path: Path, repair: bool) -> list[tuple[str, int]]:
    """Run 1 counts a and b, then is killed; a stale snapshot of a (state 100) is planted past the resume
    epoch; run 2 touches only b for many epochs, then is killed; run 3 counts a once more."""
    db = tmp_path / "recovery"
    db.mkdir()
    init_db_dir(db, 2)
    abort = TestingSource.ABORT
    items: list[Item] = [("a", 1), ("b", 1), abort(), *[("b", 1)] * 12, abort(), ("a", 1)]
    out: list[tuple[str, int]] = []

    def run() -> None:
        if repair:  # what run_flow does before Bytewax opens the store (test_run_flow_repairs_the_store)
            discard_unfinished_snapshots(db)
        run_main(_counting_flow(items, out), epoch_interval=timedelta(0), recovery_config=RecoveryConfig(db))

    run()  # killed after a and b
    start = resume_epoch(db)
    assert start is not None
    _plant_stale_snapshot(db, "a", start + 2, 100)
    run()  # resumes at `start`, counts only b past start + 2, killed
    assert (committed_epoch(db) or 0) > start + 2, "run 2 must finish the planted epoch for the defect to show"
    run()  # resumes; counts a
    return [kv for kv in out if kv[0] == "a"]


def test_a_stale_snapshot_of_an_unfinished_epoch_is_loaded_by_bytewax_alone(tmp_path: Path) -> None:
    """The control: without the repair, the third run continues a's count from the planted state."""
    assert _scenario(tmp_path, repair=False)[-1] == ("a", 101)


def test_the_repair_discards_it_so_the_resume_is_exact(tmp_path: Path) -> None:
    assert _scenario(tmp_path, repair=True)[-1] == ("a", 2)


def test_resume_epoch_is_the_one_bytewax_resumes_from(tmp_path: Path) -> None:
    """Bytewax records the epoch each execution resumed from (``exs.resume_epoch``); ours must equal it."""
    db = tmp_path / "recovery"
    db.mkdir()
    init_db_dir(db, 3)
    assert resume_epoch(db) is None and discard_unfinished_snapshots(db) == 0  # nothing ran yet
    abort = TestingSource.ABORT
    items: list[Item] = [*[("a", 1)] * 5, abort(), *[("b", 1)] * 5, abort(), ("a", 1)]
    out: list[tuple[str, int]] = []
    for _ in range(3):
        expected = resume_epoch(db)
        run_main(_counting_flow(items, out), epoch_interval=timedelta(0), recovery_config=RecoveryConfig(db))
        if expected is not None:
            recorded = []
            for part in sorted(db.glob("part-*.sqlite3")):
                conn = sqlite3.connect(part)
                try:
                    recorded += conn.execute("SELECT ex_num, resume_epoch FROM exs").fetchall()
                finally:
                    conn.close()
            assert max(recorded)[1] == expected
    assert out[-1] == ("a", 6)


def _stored_epochs(db: Path) -> list[int]:
    epochs: list[int] = []
    for part in sorted(db.glob("part-*.sqlite3")):
        conn = sqlite3.connect(part)
        try:
            epochs += [e for (e,) in conn.execute("SELECT snap_epoch FROM snaps")]
        finally:
            conn.close()
    return epochs


@pytest.mark.parametrize("planted", [0, 3])
def test_discard_deletes_exactly_the_snapshots_at_or_after_the_resume_epoch(tmp_path: Path, planted: int) -> None:
    db = tmp_path / "recovery"
    db.mkdir()
    init_db_dir(db, 2)
    abort = TestingSource.ABORT
    flow = _counting_flow([("a", 1), ("a", 1), abort()], [])
    run_main(flow, epoch_interval=timedelta(0), recovery_config=RecoveryConfig(db))
    start = resume_epoch(db)
    assert start is not None
    for k in range(planted):
        _plant_stale_snapshot(db, "a", start + k, 50 + k)
    before = _stored_epochs(db)
    unfinished = sum(e >= start for e in before)
    assert unfinished >= planted
    assert discard_unfinished_snapshots(db) == unfinished
    assert sorted(_stored_epochs(db)) == sorted(e for e in before if e < start)


def test_run_flow_repairs_the_store_before_a_resume(tmp_path: Path) -> None:
    """``scout run`` goes through run_flow: a snapshot past the resume epoch of a key this run never
    touches is gone afterwards (Bytewax alone would keep it for a later resume to load)."""
    db = tmp_path / "recovery"
    db.mkdir()
    init_db_dir(db, 2)
    items: list[Item] = [("a", 1), TestingSource.ABORT(), ("b", 1)]
    run_main(_counting_flow(items, []), epoch_interval=timedelta(0), recovery_config=RecoveryConfig(db))
    start = resume_epoch(db)
    assert start is not None
    _plant_stale_snapshot(db, "a", start + 50, 100)
    out: list[tuple[str, int]] = []
    run_flow(_counting_flow(items, out), Settings(recovery_dir=db))
    assert out == [("b", 1)]
    assert all(epoch < start + 50 for epoch, _ in _snaps(db, "a"))


def test_a_cluster_worker_leaves_the_store_to_its_parent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The processes of ``--processes N`` used to create or repair the shared store each: a worker that
    read it while process 0 was still creating it failed on a half-made partition (``no such table:
    exs``; the flaky killed-cluster test). Now the parent prepares it once, before the workers start,
    and a worker (``process_id`` given) opens it as it is."""
    from dataflows import runner
    from tests.kafka_broker import free_port

    db = tmp_path / "recovery"
    settings = Settings(recovery_dir=db, recovery_partitions=2)
    runner.prepare_recovery(settings)  # the parent's part: a new store
    assert sorted(p.name for p in db.iterdir()) == ["part-0.sqlite3", "part-1.sqlite3"]

    def untouchable(*_args: object) -> int:
        raise AssertionError("a worker touched the recovery store before Bytewax")

    monkeypatch.setattr(runner, "discard_unfinished_snapshots", untouchable)
    monkeypatch.setattr(runner, "init_db_dir", untouchable)
    out: list[tuple[str, int]] = []
    run_flow(_counting_flow([("a", 1), ("a", 1)], out), settings, 0, [f"127.0.0.1:{free_port()}"])
    assert out == [("a", 1), ("a", 2)]
