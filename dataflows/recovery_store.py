"""Reading Bytewax's recovery store (the SQLite partitions of ``--recovery-dir``) without changing it.

Bytewax 0.21 writes one SQLite file per recovery partition; each records, in its ``commits``
table, the last epoch whose snapshots and output are durable there. A crash test kills a run only
after that epoch has advanced (an event, not a size or a sleep), and a liveness check can read it.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path


def committed_epoch(recovery_dir: Path) -> int | None:
    """The newest epoch committed in any partition of the store (``None``: nothing committed yet).

    Each file is opened read-only; a partition being created or locked at that moment counts as
    having committed nothing."""
    newest: int | None = None
    for part in sorted(recovery_dir.glob("part-*.sqlite3")) if recovery_dir.is_dir() else ():
        with contextlib.suppress(sqlite3.Error):
            conn = sqlite3.connect(f"{part.as_uri()}?mode=ro", uri=True, timeout=1.0)
            try:
                [(epoch,)] = conn.execute("SELECT max(commit_epoch) FROM commits").fetchall()
            finally:
                conn.close()
            if epoch is not None and (newest is None or epoch > newest):
                newest = int(epoch)
    return newest
