"""``scout recovery prepare``: what a pod runs before ``python -m bytewax.run`` (an init container)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from scout_cli import app


def test_prepare_creates_the_partitions_then_repairs_an_existing_store(tmp_path: Path) -> None:
    store = tmp_path / "recovery"
    result = CliRunner().invoke(app, ["recovery", "prepare", "--recovery-dir", str(store)], env={
        "SCOUT_RECOVERY_PARTITIONS": "3"})  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in store.glob("part-*.sqlite3")) == [
        "part-0.sqlite3",
        "part-1.sqlite3",
        "part-2.sqlite3",
    ]
    assert "3 partitions, newest committed epoch None" in result.output
    # a snapshot of an epoch no run finished (the store says the resume starts at epoch 1): discarded
    with sqlite3.connect(store / "part-0.sqlite3") as conn:
        conn.execute("INSERT INTO exs (ex_num, worker_count, resume_epoch) VALUES (0, 1, 1)")
        conn.execute("INSERT INTO snaps (step_id, state_key, snap_epoch, ser_change) VALUES ('s', 'k', 5, NULL)")
    again = CliRunner().invoke(app, ["recovery", "prepare", "--recovery-dir", str(store)])
    assert again.exit_code == 0, again.output
    with sqlite3.connect(store / "part-0.sqlite3") as conn:
        assert conn.execute("SELECT count() FROM snaps").fetchone() == (0,)
