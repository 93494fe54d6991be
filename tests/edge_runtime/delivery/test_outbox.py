"""The outbox: durable, ordered, bounded by a disk budget with a documented drop policy."""

from __future__ import annotations

from pathlib import Path

from edge_runtime.delivery.outbox import Outbox, OutboxItem


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
