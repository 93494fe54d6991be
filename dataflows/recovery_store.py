"""Bytewax's recovery store (the SQLite partitions of ``--recovery-dir``): read it, and repair it before a resume.

Bytewax 0.21 writes one SQLite file per recovery partition; each records, in its ``commits``
table, the last epoch whose snapshots and output are durable there. A crash test kills a run only
after that epoch has advanced (an event, not a size or a sleep), and a liveness check can read it.

**Snapshots of unfinished epochs (a Bytewax 0.21 defect, repaired here).** A resume loads, for each
state key, its newest snapshot *before* the resume epoch R (the oldest epoch some worker had not
finished). A run killed in the middle of epoch R may already have written snapshots *at* R and
later (a step snapshots a key when the epoch closes for that step, before the whole dataflow has
finished it). Bytewax leaves them in the store. The resumed run executes epoch R again, from other
input batches (epochs are cut by wall-clock time), and overwrites the snapshots of the keys it
touches — but a key it does not touch before it is killed again keeps the dead run's snapshot,
and the *next* resume loads it: state that has seen records the source will hand on again. A
device clock restored that way holds records back as late (or as duplicates) that a clean run
accepts. :func:`discard_unfinished_snapshots` deletes every snapshot at or after R before Bytewax
starts; nothing committed is touched (Bytewax never loads them, and commits only epochs before R).
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path


def partitions(recovery_dir: Path) -> list[Path]:
    """The store's SQLite partition files (none if the directory does not exist)."""
    return sorted(recovery_dir.glob("part-*.sqlite3")) if recovery_dir.is_dir() else []


def committed_epoch(recovery_dir: Path) -> int | None:
    """The newest epoch committed in any partition of the store (``None``: nothing committed yet).

    Each file is opened read-only; a partition being created or locked at that moment counts as
    having committed nothing."""
    newest: int | None = None
    for part in partitions(recovery_dir):
        with contextlib.suppress(sqlite3.Error):
            conn = sqlite3.connect(f"{part.as_uri()}?mode=ro", uri=True, timeout=1.0)
            try:
                [(epoch,)] = conn.execute("SELECT max(commit_epoch) FROM commits").fetchall()
            finally:
                conn.close()
            if epoch is not None and (newest is None or epoch > newest):
                newest = int(epoch)
    return newest


#: Bytewax 0.21's resume-epoch query (``src/recovery.rs``, ``resume_from``; its ``generate_series`` is a
#: recursive CTE here, which every SQLite has): the oldest frontier over the workers of the newest
#: execution; a worker that wrote no frontier counts at that execution's start.
RESUME_EPOCH_SQL = """
WITH RECURSIVE max_ex AS (
    SELECT ex_num, worker_count, resume_epoch FROM exs WHERE ex_num = (SELECT MAX(ex_num) FROM exs)
),
workers(worker_index) AS (
    SELECT 0 UNION ALL SELECT worker_index + 1 FROM workers WHERE worker_index + 1 < (SELECT worker_count FROM max_ex)
),
default_progress AS (
    SELECT ex_num, worker_index, resume_epoch AS worker_frontier FROM workers CROSS JOIN max_ex
),
explicit_progress AS (
    SELECT ex_num, worker_index, worker_frontier FROM fronts WHERE ex_num = (SELECT MAX(ex_num) FROM exs)
),
max_progress AS (
    SELECT ex_num, worker_index, MAX(worker_frontier) AS worker_frontier
    FROM (SELECT * FROM explicit_progress UNION SELECT * FROM default_progress)
    GROUP BY ex_num, worker_index
)
SELECT MIN(worker_frontier) FROM max_progress
"""


def resume_epoch(recovery_dir: Path) -> int | None:
    """The epoch a run resuming from this store starts at, computed as Bytewax does over the
    execution and frontier rows of every partition in the directory (``None``: nothing ran yet)."""
    parts = partitions(recovery_dir)
    if not parts:
        return None
    merged = sqlite3.connect(":memory:")
    try:
        merged.execute("CREATE TABLE exs (ex_num INTEGER, worker_count INTEGER, resume_epoch INTEGER)")
        merged.execute("CREATE TABLE fronts (ex_num INTEGER, worker_index INTEGER, worker_frontier INTEGER)")
        for part in parts:
            conn = sqlite3.connect(f"{part.as_uri()}?mode=ro", uri=True, timeout=30.0)
            try:
                for table, columns in (("exs", "ex_num, worker_count, resume_epoch"),
                                       ("fronts", "ex_num, worker_index, worker_frontier")):  # fmt: skip
                    rows = conn.execute(f"SELECT {columns} FROM {table}").fetchall()
                    merged.executemany(f"INSERT INTO {table} VALUES (?, ?, ?)", rows)
            finally:
                conn.close()
        [(epoch,)] = merged.execute(RESUME_EPOCH_SQL).fetchall()
    finally:
        merged.close()
    return None if epoch is None else int(epoch)


def discard_unfinished_snapshots(recovery_dir: Path) -> int:
    """Delete the snapshots at or after the resume epoch from every partition in the directory
    (see the module doc); how many were deleted. Run before Bytewax opens the store.

    With every partition in one directory (one machine, any number of processes) the epoch is
    Bytewax's exactly. A process that sees only some partitions computes an epoch no older than the
    cluster's (a minimum over fewer workers), so it never deletes a snapshot a resume needs."""
    epoch = resume_epoch(recovery_dir)
    if epoch is None:
        return 0
    deleted = 0
    for part in partitions(recovery_dir):
        conn = sqlite3.connect(part, timeout=30.0)
        try:
            with conn:
                deleted += conn.execute("DELETE FROM snaps WHERE snap_epoch >= ?", (epoch,)).rowcount
        finally:
            conn.close()
    return deleted


def state_keys(recovery_dir: Path) -> set[tuple[str, str]]:
    """Every ``(step id, state key)`` with a snapshot in the store (what a resume would load)."""
    found: set[tuple[str, str]] = set()
    for part in partitions(recovery_dir):
        conn = sqlite3.connect(f"{part.as_uri()}?mode=ro", uri=True, timeout=30.0)
        try:
            found.update(conn.execute("SELECT DISTINCT step_id, state_key FROM snaps").fetchall())
        finally:
            conn.close()
    return found
