"""The durable outbox: every event is written here before anything tries to send it.

SQLite in WAL mode. ``synchronous = FULL`` (default) fsyncs the WAL at every
commit, so an event whose :meth:`Outbox.put` returned survives a power cut;
``NORMAL`` survives a crash of the agent but may lose the last commits on
power loss (documented in docs/edge.md). Rows are deleted only after the
broker acknowledged them (:meth:`Outbox.ack`), so a crash between send and
ack re-sends a few events with their original ``event_id`` — the dataflow
drops those duplicates.

Disk budget: when the stored payloads exceed ``budget_bytes`` the *oldest*
events are dropped first (a recent picture of the store is worth more than
an old one), heartbeats last; every drop is counted per topic in the
``outbox_dropped`` table, logged, and reported in the heartbeat.

>>> box = Outbox(Path(":memory:"), budget_bytes=10_000)
>>> box.put([OutboxItem("t", "dev-1", "e1", b"{}")])
>>> [(r.seq, r.event_id) for r in box.peek(10)], box.depth()
([(1, 'e1')], 1)
>>> box.ack([1]); box.depth()
0
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    topic      TEXT    NOT NULL,
    key        TEXT,
    event_id   TEXT    NOT NULL,
    payload    BLOB    NOT NULL,
    created_ms INTEGER NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    priority   INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS outbox_dropped (
    topic   TEXT PRIMARY KEY,
    dropped INTEGER NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class OutboxItem:
    topic: str
    key: str | None
    event_id: str
    payload: bytes
    #: Higher survives longer under the disk budget (heartbeats: 1).
    priority: int = 0


@dataclass(frozen=True, slots=True)
class StoredItem:
    seq: int
    topic: str
    key: str | None
    event_id: str
    payload: bytes
    created_ms: int
    attempts: int


class Outbox:
    """Thread-safe (one connection, one lock): capture workers put, the publisher peeks and acks."""

    def __init__(self, path: Path, *, budget_bytes: int, synchronous: str = "FULL") -> None:
        """Open (or create) the outbox at ``path``. A file that is not an outbox — not SQLite, or another
        application's database — raises :class:`NotAnOutboxError` and is never written to; an outbox
        SQLite reports as damaged is moved aside, the events it can still read are salvaged into a new
        one, and :attr:`salvaged` says so."""
        #: what opening found: ``None``, or a sentence about a damaged outbox moved aside (for the heartbeat)
        self.salvaged: str | None = None
        moved: Path | None = None
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
            if _kind(path) == "damaged":
                moved = path.with_name(f"{path.name}.damaged-{int(time.time())}")
                for suffix in ("", "-wal", "-shm"):
                    if path.with_name(path.name + suffix).exists():
                        path.with_name(path.name + suffix).rename(moved.with_name(moved.name + suffix))
        self.path = path
        self.budget_bytes = budget_bytes
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute(f"PRAGMA application_id={APPLICATION_ID}")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'FULL' if synchronous.upper() == 'FULL' else 'NORMAL'}")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        if moved is not None:
            saved = self._salvage(moved)
            self.salvaged = f"the outbox was damaged: moved to {moved.name}; {saved} queued events salvaged"
            log.error("outbox damaged; moved aside, events salvaged", moved_to=str(moved), salvaged=saved)
        row = self._db.execute("SELECT coalesce(sum(length(payload)), 0), count(*) FROM outbox").fetchone()
        self._bytes, self._depth = int(row[0]), int(row[1])

    def _salvage(self, damaged: Path) -> int:
        """Copy every row of the damaged outbox that SQLite can still read (row by row, in order)."""
        saved = 0
        try:
            old = sqlite3.connect(f"{damaged.resolve().as_uri()}?mode=ro", uri=True)
        except sqlite3.Error:
            return 0
        try:
            cursor = old.execute("SELECT topic, key, event_id, payload, created_ms, priority FROM outbox ORDER BY seq")
            while True:
                try:
                    row = cursor.fetchone()
                except sqlite3.DatabaseError:
                    break  # the rest of the table is unreadable
                if row is None:
                    break
                self._db.execute("INSERT INTO outbox (topic, key, event_id, payload, created_ms, priority) "
                                 "VALUES (?, ?, ?, ?, ?, ?)", row)  # fmt: skip
                saved += 1
        except sqlite3.DatabaseError:
            pass
        finally:
            old.close()
        return saved

    def put(self, items: Sequence[OutboxItem]) -> None:
        """Store ``items`` durably (one transaction); returns once committed."""
        if not items:
            return
        now = int(time.time() * 1000)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT INTO outbox (topic, key, event_id, payload, created_ms, priority)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    [(i.topic, i.key, i.event_id, i.payload, now, i.priority) for i in items],
                )
                self._bytes += sum(len(i.payload) for i in items)
                self._depth += len(items)
                if self._bytes > self.budget_bytes:
                    self._enforce_budget()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                row = self._db.execute("SELECT coalesce(sum(length(payload)), 0), count(*) FROM outbox").fetchone()
                self._bytes, self._depth = int(row[0]), int(row[1])
                raise

    def _enforce_budget(self) -> None:
        """Drop the oldest, lowest-priority events until under 90 % of the budget (inside put's transaction)."""
        target = int(self.budget_bytes * 0.9)
        excess = self._bytes - target
        victims: list[tuple[int, str, int]] = []
        for seq, topic, size in self._db.execute(
            "SELECT seq, topic, length(payload) FROM outbox ORDER BY priority, seq"
        ):
            if excess <= 0:
                break
            victims.append((seq, topic, size))
            excess -= size
        self._db.executemany("DELETE FROM outbox WHERE seq = ?", [(v[0],) for v in victims])
        per_topic: dict[str, int] = {}
        for _, topic, _ in victims:
            per_topic[topic] = per_topic.get(topic, 0) + 1
        self._db.executemany(
            "INSERT INTO outbox_dropped (topic, dropped) VALUES (?, ?) "
            "ON CONFLICT(topic) DO UPDATE SET dropped = dropped + excluded.dropped",
            list(per_topic.items()),
        )
        self._bytes -= sum(v[2] for v in victims)
        self._depth -= len(victims)
        log.warning("outbox over its disk budget: dropped oldest events", dropped=per_topic, budget=self.budget_bytes)

    def peek(self, limit: int) -> list[StoredItem]:
        """The oldest ``limit`` events, not removed."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, topic, key, event_id, payload, created_ms, attempts FROM outbox ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()
        return [StoredItem(r[0], r[1], r[2], r[3], bytes(r[4]), r[5], r[6]) for r in rows]

    def ack(self, seqs: Iterable[int]) -> None:
        """Remove events the broker acknowledged."""
        keys = json.dumps(list(seqs))
        if keys == "[]":
            return
        with self._lock:
            sizes = self._db.execute(
                "DELETE FROM outbox WHERE seq IN (SELECT value FROM json_each(?)) RETURNING length(payload)", (keys,)
            ).fetchall()
            self._bytes -= sum(int(r[0]) for r in sizes)
            self._depth -= len(sizes)

    def record_attempt(self, seqs: Iterable[int]) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE outbox SET attempts = attempts + 1 WHERE seq IN (SELECT value FROM json_each(?))",
                (json.dumps(list(seqs)),),
            )

    def depth(self) -> int:
        return self._depth

    def size_bytes(self) -> int:
        return self._bytes

    def dropped(self) -> dict[str, int]:
        with self._lock:
            return dict(self._db.execute("SELECT topic, dropped FROM outbox_dropped").fetchall())

    def close(self) -> None:
        with self._lock:
            self._db.close()


class NotAnOutboxError(ValueError):
    """A path that is not an outbox (not SQLite, or SQLite without the outbox tables)."""


#: ``PRAGMA application_id`` of an outbox ("SCOU"): another application's SQLite file is never written to.
APPLICATION_ID = 0x53434F55


def _kind(path: Path) -> str:
    """What is at ``path``: ``new`` (nothing, or an empty file), ``outbox`` (ours, or an outbox made before
    the marker), ``damaged`` (ours, but SQLite reports it malformed) — or :class:`NotAnOutboxError`."""
    if not path.exists() or path.stat().st_size == 0:
        return "new"
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise NotAnOutboxError(f"{path} cannot be opened: {exc}") from exc
    try:
        (app_id,) = db.execute("PRAGMA application_id").fetchone()  # not SQLite at all: refused, never moved
        if app_id == APPLICATION_ID:
            try:
                (ok,) = db.execute("PRAGMA quick_check").fetchone()
            except sqlite3.DatabaseError:
                return "damaged"
            return "outbox" if ok == "ok" else "damaged"
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if app_id == 0 and tables - {"sqlite_sequence"} <= {"outbox", "outbox_dropped"}:
            return "outbox" if tables else "new"  # an outbox from before the marker, or an empty database
        raise NotAnOutboxError(
            f"{path} is another application's SQLite database (application_id {app_id}, tables: "
            f"{', '.join(sorted(tables)) or 'none'}); the outbox never writes into it"
        )
    except sqlite3.DatabaseError as exc:
        raise NotAnOutboxError(f"{path} is not an outbox: {exc}") from exc
    finally:
        db.close()


def inspect_outbox(path: Path) -> dict[str, object]:
    """Depth, bytes and drop counts of an outbox, opened read-only (nothing is created or changed);
    what is not an outbox is told apart as the agent tells it at start (:func:`_kind`)."""
    kind = _kind(path)
    if kind != "outbox":
        raise NotAnOutboxError(
            f"{path} is empty: not an outbox yet" if kind == "new" else
            f"{path} is a damaged outbox: the agent moves it aside and salvages its events at its next start"
        )  # fmt: skip
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        size, depth = db.execute("SELECT coalesce(sum(length(payload)), 0), count(*) FROM outbox").fetchone()
        dropped = dict(db.execute("SELECT topic, dropped FROM outbox_dropped").fetchall())
    except sqlite3.DatabaseError as exc:
        raise NotAnOutboxError(f"{path} is not an outbox: {exc}") from exc
    finally:
        db.close()
    return {"depth": int(depth), "bytes": int(size), "dropped": dropped}
