"""``scout recovery prepare`` and the pod layout of the store (``dataflows.runner.prepare_pod_recovery``),
which a pod's entry point applies at every start of its container."""

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


def test_in_a_cluster_the_store_lives_on_ordinal_0_and_a_copy_elsewhere_is_refused(tmp_path: Path) -> None:
    """A partition on two pods' volumes would be two diverging versions of it (scout_cli/recovery.py)."""
    env = {"SCOUT_RECOVERY_PARTITIONS": "3"}
    home, other = tmp_path / "pod-0", tmp_path / "pod-1"
    for pod, store in (("scout-dataflow-0", home), ("scout-dataflow-1", other)):
        result = CliRunner().invoke(app, ["recovery", "prepare", "--recovery-dir", str(store), "--pod-name", pod],
                                    env=env)  # fmt: skip
        assert result.exit_code == 0, result.output
    assert len(list(home.glob("part-*.sqlite3"))) == 3
    assert other.is_dir() and not list(other.iterdir())
    (other / "part-1.sqlite3").write_bytes((home / "part-1.sqlite3").read_bytes())
    refused = CliRunner().invoke(app, ["recovery", "prepare", "--recovery-dir", str(other), "--pod-name",
                                       "scout-dataflow-1"], env=env)  # fmt: skip
    assert refused.exit_code == 2
    assert "part-1.sqlite3" in refused.output and "ordinal 0" in refused.output
    bad = CliRunner().invoke(app, ["recovery", "prepare", "--recovery-dir", str(home), "--pod-name", "scout"], env=env)
    assert bad.exit_code == 2 and "ordinal" in bad.output


def test_a_pods_container_prepares_the_store_at_every_start(tmp_path: Path) -> None:
    """A kubelet restarting a container (a failed liveness probe, an OOM kill) runs no init container:
    the entry point itself repairs pod 0's store before Bytewax opens it, and on another pod refuses
    a stray copy of the store."""
    import os
    import subprocess
    import sys

    store = tmp_path / "recovery"
    assert CliRunner().invoke(app, ["recovery", "prepare", "--recovery-dir", str(store)]).exit_code == 0
    with sqlite3.connect(store / "part-0.sqlite3") as conn:  # a snapshot of an epoch no run finished
        conn.execute("INSERT INTO exs (ex_num, worker_count, resume_epoch) VALUES (0, 1, 1)")
        conn.execute("INSERT INTO snaps (step_id, state_key, snap_epoch, ser_change) VALUES ('s', 'k', 5, NULL)")

    def start(pod: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "BYTEWAX_POD_NAME": pod, "SCOUT_RECOVERY_DIR": str(store),
               "SCOUT_SOURCE": "kafka://127.0.0.1:9", "SCOUT_SINK": f"chdb://{tmp_path / 'ch'}"}  # fmt: skip
        return subprocess.run([sys.executable, "-c", "import dataflows.entrypoint"], env=env, capture_output=True,
                              text=True, timeout=120, check=False)  # fmt: skip

    started = start("scout-scout-stream-0")
    assert started.returncode == 0, started.stderr
    with sqlite3.connect(store / "part-0.sqlite3") as conn:
        assert conn.execute("SELECT count() FROM snaps").fetchone() == (0,)
    refused = start("scout-scout-stream-1")
    assert refused.returncode != 0 and "ordinal 0" in refused.stderr
