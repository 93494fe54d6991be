"""The outbox: durable, ordered, bounded by a disk budget with a documented drop policy."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from edge_runtime.delivery.outbox import NotAnOutboxError, Outbox, OutboxItem


def items(n: int, *, topic: str = "t", size: int = 100, priority: int = 0, start: int = 0) -> list[OutboxItem]:
    return [OutboxItem(topic, "dev", f"e{start + i}", b"x" * size, priority) for i in range(n)]


def test_events_survive_reopening(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", budget_bytes=1 << 20)
    box.put(items(10))
    box.ack([s.seq for s in box.peek(3)])
    box.close()
    again = Outbox(tmp_path / "o.db", budget_bytes=1 << 20)
    assert again.depth() == 7 and again.size_bytes() == 700
    assert [s.event_id for s in again.peek(100)] == [f"e{i}" for i in range(3, 10)]


def test_peek_is_oldest_first_and_ack_is_selective(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", budget_bytes=1 << 20)
    box.put(items(5))
    got = box.peek(5)
    box.ack([got[1].seq, got[3].seq])
    box.record_attempt([got[0].seq])
    left = box.peek(5)
    assert [s.event_id for s in left] == ["e0", "e2", "e4"]
    assert left[0].attempts == 1 and left[1].attempts == 0


def test_budget_drops_oldest_low_priority_first_and_counts_it(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", budget_bytes=10_000)
    box.put(items(5, topic="hb", priority=1, start=1000))
    box.put(items(90, topic="visual"))
    box.put(items(20, topic="visual", start=90))  # 115 × 100 B > 10 000 B
    assert box.size_bytes() <= 10_000
    ids = [s.event_id for s in box.peek(1000)]
    assert {f"e{i}" for i in range(1000, 1005)} <= set(ids)  # heartbeats kept
    assert "e109" in ids and "e0" not in ids  # newest kept, oldest dropped
    dropped = box.dropped()
    assert set(dropped) == {"visual"} and dropped["visual"] == 115 - len(ids)
    assert box.depth() == len(ids)


def test_dropped_counts_survive_restart(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", budget_bytes=1_000)
    box.put(items(20))
    n = box.dropped()["t"]
    box.close()
    assert Outbox(tmp_path / "o.db", budget_bytes=1_000).dropped() == {"t": n}


def test_another_applications_database_is_refused_and_never_written(tmp_path: Path) -> None:
    """Issue #20, item 7: pointed at another application's SQLite database, the agent wrote its tables
    into it. Now: NotAnOutboxError (``scout-edge run`` exits 2 with it), the file byte for byte unchanged."""
    other = tmp_path / "crm.sqlite"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    db.execute("INSERT INTO customers (name) VALUES ('Ana')")
    db.commit()
    db.close()
    before = other.read_bytes()
    with pytest.raises(NotAnOutboxError, match="another application's SQLite database"):
        Outbox(other, budget_bytes=10_000)
    assert other.read_bytes() == before and not other.with_name("crm.sqlite-wal").exists()
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n" * 100)
    with pytest.raises(NotAnOutboxError, match="not an outbox"):
        Outbox(text, budget_bytes=10_000)
    assert text.read_text() == "not a database\n" * 100


def test_a_damaged_outbox_is_moved_aside_and_its_readable_events_salvaged(tmp_path: Path) -> None:
    """A corrupt outbox crashed the agent at start. Now it is moved aside, what SQLite can read is copied
    into a new outbox, and ``salvaged`` says so (the heartbeat reports it)."""
    path = tmp_path / "outbox.db"
    box = Outbox(path, budget_bytes=10_000_000)
    box.put([OutboxItem("t", "dev", f"e{i}", b"x" * 2_000) for i in range(200)])
    box.close()
    sqlite3.connect(path).execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
    data = bytearray(path.read_bytes())
    page = 4096
    data[page * 40 : page * 41] = b"\xff" * page  # one page of the table's b-tree destroyed
    path.write_bytes(bytes(data))
    reopened = Outbox(path, budget_bytes=10_000_000)
    assert reopened.salvaged is not None and "moved to outbox.db.damaged-" in reopened.salvaged
    assert list(tmp_path.glob("outbox.db.damaged-*"))
    assert 0 < reopened.depth() < 200  # the readable rows, in their order
    reopened.put([OutboxItem("t", "dev", "after", b"{}")])
    assert reopened.depth() > 0


def test_an_outbox_made_before_the_marker_is_still_opened(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    box = Outbox(path, budget_bytes=10_000)
    box.put([OutboxItem("t", "dev", "e1", b"{}")])
    box.close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA application_id=0")
    db.close()
    assert Outbox(path, budget_bytes=10_000).depth() == 1


def test_the_agent_exits_2_with_one_line_on_a_path_that_is_not_an_outbox(tmp_path: Path) -> None:
    """Through the real CLI: a service manager sees exit 2 (a configuration error), not a crash loop."""
    import subprocess
    import sys

    other = tmp_path / "crm.sqlite"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY)")
    db.commit()
    db.close()
    cfg = tmp_path / "edge.toml"
    cfg.write_text(f'device_id = "SCOUTPI-0042"\nstore_id = "STORE-0042"\n[outbox]\npath = "{other}"\n')
    proc = subprocess.run([sys.executable, "-m", "edge_runtime.cli", "run", "--config", str(cfg)],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "another application's SQLite database" in proc.stderr and "Traceback" not in proc.stderr
