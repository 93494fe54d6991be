"""A killed ``scout run`` leaves no process behind, and a restart right after the kill works.

Kubernetes kills pods with SIGKILL after their grace period, and the OOM killer does not ask. The
writer process (which holds the chDB directory) and the workers of ``--processes N`` must die with
their parent (``dataflows/lifeline.py``): an orphaned writer made an immediate restart fail with
exit 4, and orphaned workers kept half a cluster running.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from dataflows.simulator import SimConfig, simulate, write_topic_file
from scout_contract.streams import NAMES
from tests.e2e.conftest import Scout, assert_same, kill_after_commits, snapshot
from tests.kafka_broker import Broker

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("kills") / "big.jsonl"
    write_topic_file(simulate(SimConfig(stores=3, devices_per_store=2, hours=4, seed=12)), path)
    return path


def _kill_then_restart(scout: Scout, source: str, env: dict[str, str], *extra: str) -> None:
    """Start a run, kill -9 it after two committed epochs, check its children died with it, restart
    it at once (``--stop-at-end``: the restart ends when the input does) and check it exits 0."""
    recovery = scout.workdir / "recovery"
    args = [sys.executable, "-m", "scout_cli", "run", "--source", source, "--sink", scout.sink, "--no-summary",
            "--recovery-dir", str(recovery), "--batch-size", "300", "--close-sessions-at-end", *extra]  # fmt: skip
    env = {**os.environ, **env, "SCOUT_SNAPSHOT_INTERVAL_S": "0.2"}
    _, children = kill_after_commits(args, scout.workdir, env, recovery, epochs=2)
    assert children, "the run has no child process to orphan (a writer process or workers were expected)"
    _, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, f"children outlived their killed parent: {[(p.pid, p.name()) for p in alive]}"
    restart = [*args, "--stop-at-end"] if source.startswith("kafka://") else args
    restarted = subprocess.run(restart, cwd=scout.workdir, env=env, capture_output=True, text=True, timeout=300,
                               check=False)  # fmt: skip
    assert restarted.returncode == 0, restarted.stderr[-3000:]


def test_a_killed_run_leaves_no_writer_and_a_restart_at_once_resumes_exactly(big_file: Path, tmp_path: Path) -> None:
    scout = Scout(tmp_path / "killed")
    scout.workdir.mkdir()
    _kill_then_restart(scout, f"file:{big_file}", {})
    clean = Scout(tmp_path / "clean")
    clean.workdir.mkdir()
    clean.run(big_file)
    assert_same(snapshot(clean), snapshot(scout))
    assert all(t["ok"] for t in scout.verify())


def test_a_killed_tailing_cluster_leaves_no_worker_and_restarts_at_once(session_broker: Broker, tmp_path: Path) -> None:
    """Tailing workers never end by themselves: orphans would run (and hold their ports) for ever."""
    env = {f"SCOUT_TOPICS__{s.upper()}": f"kills-{os.getpid()}-{s}" for s in NAMES}
    env["SCOUT_KAFKA__PARTITIONS"] = "4"
    scout = Scout(tmp_path / "cluster")
    scout.workdir.mkdir()
    scout("simulate", "--kafka", session_broker.bootstrap, "--stores", "3", "--devices", "2", "--hours", "2",
          "--seed", "12", env=env, timeout=180)  # fmt: skip
    _kill_then_restart(scout, f"kafka://{session_broker.bootstrap}", env, "--processes", "2")
    assert all(t["ok"] for t in scout.verify())
