"""End-to-end helpers: the real CLI in subprocesses, chDB on a temp path.

chDB allows one data path per process, so every step runs as its own
``scout`` process, exactly as a user would run it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from dataflows.recovery_store import committed_epoch
from dataflows.tables import TABLES, of_layer


class Scout:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.sink = f"chdb://{workdir / 'ch'}"

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 300, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``scout ARGS``; ``timeout`` bounds it (a hang fails the test), ``env`` adds variables."""
        proc = subprocess.run(
            [sys.executable, "-m", "scout_cli", *args],
            cwd=self.workdir, capture_output=True, text=True, timeout=timeout, check=False,
            env={**os.environ, **(env or {})},
        )  # fmt: skip
        if check and proc.returncode != 0:
            raise AssertionError(f"scout {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def run(self, events: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        return self("run", "--source", f"file:{events}", "--sink", self.sink, "--no-summary", *extra)

    def command(self, *statements: str) -> None:
        """Run write statements (a corruption, a stale row) against the warehouse, mutations synchronously."""
        code = "import sys; from dataflows.warehouse import connect; c = connect(sys.argv[1])\n" + "\n".join(
            f"c.command({q!r}, settings={{'mutations_sync': 2}})" for q in statements
        )
        subprocess.run([sys.executable, "-c", code, self.sink], check=True, timeout=120, cwd=self.workdir)

    def query(self, sql: str) -> list[dict[str, Any]]:
        out = self("db", "query", sql, "--sink", self.sink).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def query_many(self, queries: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
        """Several read queries in one process (rows as JSON objects, values as ``scout db query`` gives them)."""
        proc = subprocess.run(
            [sys.executable, "-m", "tests.e2e.dump", self.sink], input=json.dumps(queries), cwd=self.workdir,
            capture_output=True, text=True, timeout=300, check=False,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        )  # fmt: skip
        if proc.returncode != 0:
            raise AssertionError(f"queries failed:\n{proc.stderr}")
        result: dict[str, list[dict[str, Any]]] = json.loads(proc.stdout)
        return result

    def accounted(self) -> dict[str, int]:
        """Where the input's records went: bronze (every accepted event, ``late`` of them marked)
        + quarantined + duplicates = every record; ``late_logged``: rows of late_events. Rule counts are
        read FINAL: a resumed run rewrites a block's cumulative row, and without FINAL both versions
        counted until ClickHouse merged them (a resumed run's duplicates came out one too many)."""
        bronze = " UNION ALL ".join(f"SELECT late FROM {t} FINAL" for t in of_layer("bronze"))
        [c] = self.query(
            f"""SELECT
                 (SELECT count() FROM ({bronze})) AS bronze,
                 (SELECT countIf(late) FROM ({bronze})) AS late,
                 (SELECT count() FROM quarantine_events FINAL) AS quarantined,
                 (SELECT count() FROM late_events FINAL) AS late_logged,
                 (SELECT sum(failed) FROM dq_rule_metrics FINAL WHERE rule = 'unique_event_id') AS duplicates"""
        )
        return {k: int(v) for k, v in c.items()}

    def verify(self, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
        proc = self("db", "verify", "--json", "--sink", self.sink, check=False, env=env)
        report: list[dict[str, Any]] = json.loads(proc.stdout)
        assert (proc.returncode == 0) == all(t["ok"] for t in report)
        return report


def migrations_before(first_new: str, directory: Path) -> Path:
    """A copy of the migrations older than ``first_new`` (an older warehouse's), in ``directory``."""
    from dataflows.warehouse import migrations_dir

    directory.mkdir()
    for path in sorted(migrations_dir().glob("*.sql")):
        if path.name < first_new:
            (directory / path.name).write_text(path.read_text())
    return directory


def snapshot(scout: Scout, skip: dict[str, str] | None = None) -> dict[str, list[str]]:
    """Every table as queries see it (FINAL), minus processing-time columns (and rows matching
    ``skip[table]``, a SQL condition on that table)."""
    queries = {}
    for table, t in TABLES.items():
        keep = ", ".join(f"`{c}`" for c in t.columns if c not in t.processing_columns)
        where = f"WHERE NOT ({skip[table]})" if skip and table in skip else ""
        queries[table] = f"SELECT {keep} FROM `{table}` FINAL {where} ORDER BY {keep}"
    return {t: [json.dumps(r, sort_keys=True) for r in rows] for t, rows in scout.query_many(queries).items()}


def assert_same(a: dict[str, list[str]], b: dict[str, list[str]]) -> None:
    problems = {t: (sorted(set(a[t]) - set(b[t]))[:2], sorted(set(b[t]) - set(a[t]))[:2]) for t in a if a[t] != b[t]}
    assert not problems, json.dumps(problems, indent=1)


def wait_for_commits(proc: subprocess.Popen[bytes], recovery: Path, epochs: int, timeout_s: float = 180) -> int:
    """Wait until the run ``proc`` has committed ``epochs`` more epochs to its recovery store than the first
    one seen committed (an event read from the store, so it holds on a loaded machine); that epoch."""
    deadline = time.monotonic() + timeout_s
    first: int | None = None
    while time.monotonic() < deadline and proc.poll() is None:
        epoch = committed_epoch(recovery)
        if epoch is not None and first is None:
            first = epoch
        elif epoch is not None and first is not None and epoch >= first + epochs:
            return epoch
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed; make the input bigger"
    raise AssertionError(f"no {epochs} epochs committed within {timeout_s:.0f} s (first seen: {first})")


def kill_after_commits(
    args: list[str], cwd: Path, env: dict[str, str], recovery: Path, epochs: int, timeout_s: float = 180
) -> tuple[int, list[psutil.Process]]:
    """Start ``args`` (a ``scout run`` with ``--recovery-dir recovery``) and kill -9 it once it has committed
    ``epochs`` more epochs (:func:`wait_for_commits`); the epoch it was killed at and the children it had."""
    log = cwd / f"killed-run-{time.monotonic_ns()}.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=err)
    try:
        try:
            epoch = wait_for_commits(proc, recovery, epochs, timeout_s)
        except AssertionError as exc:  # say what the run said
            raise AssertionError(f"{exc}\n--- the run's stderr (end) ---\n{log.read_text()[-6000:]}") from exc
        children = psutil.Process(proc.pid).children(recursive=True)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    return epoch, children


def crash_and_resume(scout: Scout, args: list[str], env: dict[str, str], recovery: Path) -> None:
    """Run ``args`` (a ``scout run`` with ``--recovery-dir recovery``), kill -9 it once it has committed
    several epochs, run it again, and check the second run resumed (wrote fewer bronze rows than the
    table holds) rather than restarted."""
    kill_after_commits(args, scout.workdir, env, recovery, epochs=3)
    resumed = subprocess.run(args, cwd=scout.workdir, env=env, capture_output=True, text=True, timeout=300,
                             check=False)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    [finished] = [json.loads(line) for line in resumed.stderr.splitlines() if '"dataflow finished"' in line]
    [total] = scout.query("SELECT count() AS n FROM bronze_visual_stream FINAL")
    assert 0 < finished["rows"]["bronze_visual_stream"] < total["n"], "the second run resumed, not restarted"


@pytest.fixture
def scout(tmp_path: Path) -> Scout:
    return Scout(tmp_path)
