"""Who writes table rows into ClickHouse: this process, or a writer process beside it.

The dataflow runs on one core and spends a large share of it turning rows into
ClickHouse's Native format and waiting for chDB to insert them — and chDB holds
the GIL while it does, so a writer *thread* overlaps nothing. A
:class:`ProcessWriter` moves that work to its own process (the second core):
the dataflow hands it each batch of rows encoded with msgspec MessagePack
(typed rows in, typed rows out; its cost per row is measured in
``bench/insert_paths.py``), and the writer decodes them, inserts them with
clickhouse-connect and acknowledges. A sender thread does the sending: the
writer reads a batch only between two inserts, and the dataflow computes on
while the thread waits (the writer's backlog is then waited for at the epoch's
end instead; the time this saved is in bench/README.md, "Figures quoted by the code").

The writer owns the warehouse for the whole run (a chDB directory can be open
in one process only): it applies the migrations when it starts and the
dataflow's process opens the warehouse again only after the writer has exited.

At-least-once is kept: :meth:`TableWriter.wait` returns only when everything
submitted is in ClickHouse, and the sink calls it before Bytewax commits an
epoch. Batches in flight are bounded: a submit blocks while ``max_in_flight``
batches are unacknowledged, so memory is bounded by configuration, not input.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection
from operator import attrgetter
from typing import Any, Protocol

import msgspec

from dataflows.metrics import BRONZE_VISIBLE, GOLD_VISIBLE, INSERT_SECONDS, ROWS_WRITTEN
from dataflows.sinks.insert import write_table_rows
from dataflows.tables import TABLES, TableRows
from dataflows.warehouse import WarehouseError

OnWrite = Callable[[dict[str, int]], None]


class TableWriter(Protocol):
    """Writes :class:`TableRows` batches into the warehouse."""

    def submit(self, batch: TableRows) -> None:
        """Write a batch, now or soon; a failure is raised here or at :meth:`wait`."""

    def wait(self) -> None:
        """Return once every submitted batch is in the warehouse."""


class InlineWriter:
    """Writes in the calling process, before :meth:`submit` returns."""

    def __init__(self, client: Any, on_write: OnWrite | None = None) -> None:
        self.client = client
        self._on_write = on_write

    def submit(self, batch: TableRows) -> None:
        arrived = arrivals(batch)
        _report(write_table_rows(self.client, batch), self._on_write)
        observe_visible(*arrived)

    def wait(self) -> None:
        pass


def _report(written: dict[str, tuple[int, float]], on_write: OnWrite | None) -> None:
    """Metrics and the caller's callback for what one batch wrote (``{table: (rows, seconds)}``)."""
    for table, (n, seconds) in written.items():
        INSERT_SECONDS.labels(table).observe(seconds)
        ROWS_WRITTEN.labels(table).inc(n)
    if on_write and written:
        on_write({t: n for t, (n, _) in written.items()})


#: Every how many bronze rows one is timed for ``scout_bronze_visible_seconds`` (a sample keeps it cheap).
VISIBLE_SAMPLE = 8
_BRONZE_ARRIVAL = {name: attrgetter("record_ts") for name, t in TABLES.items() if t.layer == "bronze"}


def arrivals(batch: TableRows) -> tuple[list[int], list[int]]:
    """Record timestamps (ms) of a sample of the batch's bronze rows (every :data:`VISIBLE_SAMPLE`-th), and
    of the oldest record of each gold batch in it (:attr:`TableRows.arrived`)."""
    bronze = [get(row) for table, get in _BRONZE_ARRIVAL.items() for row in batch.rows.get(table, ())[::VISIBLE_SAMPLE]]
    for table in _BRONZE_ARRIVAL:
        bronze += [ts for t in batch.columns.get(table, ()) for ts in t["record_ts"][::VISIBLE_SAMPLE].to_pylist()]
    return bronze, list(batch.arrived)


def observe_visible(bronze: list[int], gold: list[int], visible_ms: int | None = None) -> None:
    """The rows whose record timestamps these are became queryable at ``visible_ms`` (default: now):
    their delays into the histograms."""
    now = time.time_ns() // 1_000_000 if visible_ms is None else visible_ms
    for ts in bronze:
        BRONZE_VISIBLE.observe(max(now - ts, 0) / 1000)
    for ts in gold:
        GOLD_VISIBLE.observe(max(now - ts, 0) / 1000)


_ENCODER = msgspec.msgpack.Encoder()


#: The key of a table's Arrow tables in an encoded batch: this prefix, then the table's name.
ARROW = "arrow:"


def encode_batch(batch: TableRows) -> dict[str, bytes]:
    """``{table: MessagePack array of its rows}``, and ``{"arrow:" + table: Arrow IPC stream of its
    tables}`` for the tables a columnar step hands whole (what crosses to the writer process)."""
    out = {table: _ENCODER.encode(rows) for table, rows in batch.rows.items() if rows}
    for table, tables in batch.columns.items():
        if any(t.num_rows for t in tables):
            out[ARROW + table] = ipc_bytes(tables)
    return out


def ipc_bytes(tables: list[Any]) -> bytes:
    """Arrow tables of one schema as one Arrow IPC stream."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, tables[0].schema) as stream:
        for t in tables:
            stream.write_table(t)
    return bytes(sink.getvalue().to_pybytes())


_DECODERS = {name: msgspec.msgpack.Decoder(list[t.row]) for name, t in TABLES.items()}  # type: ignore[name-defined]


def decode_batch(encoded: dict[str, bytes]) -> TableRows:
    """The typed rows again (:func:`encode_batch` in reverse).

    >>> from dataflows.tables import DqRow
    >>> rows = TableRows()
    >>> rows.add(DqRow(0, "stt", "json_parse", "drop", "t/0", 0, 5, 1, 6))
    >>> decode_batch(encode_batch(rows)).of(DqRow) == rows.of(DqRow)
    True
    """
    out = TableRows()
    for table, blob in encoded.items():
        if table.startswith(ARROW):
            import pyarrow as pa

            out.columns[table[len(ARROW) :]].append(pa.ipc.open_stream(blob).read_all())
        else:
            out.rows[table] = _DECODERS[table].decode(blob)
    return out


class ProcessWriter:
    """A writer process that owns the warehouse for a run (see module doc).

    Use as a context manager: entering starts the process and waits until the
    warehouse is open (and migrated when ``migrate``, with ``day_timezone`` recorded or checked:
    :func:`~dataflows.warehouse.claim_day_timezone`); leaving stops it.
    """

    def __init__(
        self,
        open_client: Callable[[], Any],
        on_write: OnWrite | None = None,
        migrate: bool = True,
        max_in_flight: int = 2,
        start_timeout_s: float = 300.0,
        day_timezone: str | None = None,
    ) -> None:
        self._open_client = open_client
        self._on_write = on_write
        self._migrate = migrate
        self._day_timezone = day_timezone
        self._max_in_flight = max_in_flight
        self._start_timeout_s = start_timeout_s
        self._in_flight = 0
        self._arrivals: deque[tuple[list[int], list[int]]] = deque()  # per batch in flight: arrivals()
        self._conn: Connection | None = None
        self._proc: multiprocessing.process.BaseProcess | None = None
        # Messages to the writer go through a sender thread: a batch is several MB, and a
        # send blocks until the writer has read it all, which it does between inserts (the
        # GIL is free while the thread waits, so the dataflow computes meanwhile).
        self._outbox: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self._sender: threading.Thread | None = None
        self.migrated: list[str] = []
        self.peak_rss_mb = 0.0

    def __enter__(self) -> ProcessWriter:
        ctx = multiprocessing.get_context("spawn")  # no fork of a process running Bytewax/chDB threads
        parent, child = ctx.Pipe()
        self._proc = ctx.Process(
            target=_serve,
            args=(child, self._open_client, self._migrate, self._day_timezone, os.getpid()),
            name="scout-writer",
            daemon=True,
        )
        self._proc.start()
        child.close()
        self._conn = parent
        try:
            reply = self._receive(self._start_timeout_s)
            if reply[0] != "ready":
                raise WarehouseError(str(reply[1]))
        except BaseException:
            self._stop()
            raise
        self.migrated = list(reply[1])
        self._sender = threading.Thread(target=self._send_all, args=(parent,), name="scout-writer-send", daemon=True)
        self._sender.start()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                self.wait()
                self._outbox.put(("close",))
                reply = self._receive(60.0)
                if reply[0] == "closed":
                    self.peak_rss_mb = float(reply[1])
        finally:
            self._stop()

    @property
    def pid(self) -> int | None:
        """The writer process's id (while it runs)."""
        return self._proc.pid if self._proc is not None else None

    def submit(self, batch: TableRows) -> None:
        while self._in_flight >= self._max_in_flight:
            self._settle(self._receive(None))
        assert self._conn is not None
        self._outbox.put(("rows", encode_batch(batch)))
        self._arrivals.append(arrivals(batch))
        self._in_flight += 1
        while self._conn.poll():  # take acknowledgements already waiting (and errors, early)
            self._settle(self._receive(0))

    def wait(self) -> None:
        while self._in_flight:
            self._settle(self._receive(None))

    # -- internals -------------------------------------------------------------

    def _receive(self, timeout_s: float | None) -> tuple[Any, ...]:
        assert self._conn is not None
        try:
            if timeout_s is not None and not self._conn.poll(timeout_s):
                raise WarehouseError(f"the warehouse writer process did not answer within {timeout_s:.0f} s")
            reply: tuple[Any, ...] = self._conn.recv()
        except (EOFError, OSError) as exc:
            code = self._proc.exitcode if self._proc is not None else None
            raise WarehouseError(f"the warehouse writer process ended unexpectedly (exit code {code})") from exc
        return reply

    def _settle(self, reply: tuple[Any, ...]) -> None:
        if reply[0] == "error":
            self._in_flight = 0
            self._arrivals.clear()
            raise WarehouseError(str(reply[1]))
        assert reply[0] == "written", reply
        self._in_flight -= 1
        _report(reply[1], self._on_write)
        observe_visible(*self._arrivals.popleft(), reply[2])  # batches are acknowledged in the order sent

    def _send_all(self, conn: Connection) -> None:
        """The sender thread: hands each message of the outbox to the writer, in order."""
        while (message := self._outbox.get()) is not None:
            try:
                conn.send(message)
            except (OSError, ValueError):  # the writer is gone: the main thread sees EOF and says so
                return

    def _stop(self) -> None:
        if self._sender is not None:
            self._outbox.put(None)
            self._sender.join(timeout=60)  # the writer reads the next message after its insert
            if self._sender.is_alive() and self._proc is not None:
                self._proc.kill()  # still blocked in a send to a writer that reads no more
                self._sender.join()
            self._sender = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._proc is not None:
            self._proc.join(timeout=60)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join()
            self._proc = None


def _serve(
    conn: Connection, open_client: Callable[[], Any], migrate: bool, day_timezone: str | None, parent_pid: int
) -> None:
    """The writer process: open (and migrate, and claim ``day_timezone`` for) the warehouse, then insert
    each batch it receives. It dies with the dataflow's process (:mod:`dataflows.lifeline`), so a
    killed run leaves no process holding the warehouse."""
    import resource
    import signal

    from dataflows.lifeline import die_with_parent

    die_with_parent(parent_pid)
    # Ctrl-C and SIGTERM are the dataflow's to handle (it ends its sources and flushes through
    # this process); the writer ends when the dataflow closes the pipe or asks it to.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from dataflows.warehouse import migrate as apply_migrations

    try:
        client = open_client()
        migrated = apply_migrations(client, day_timezone=day_timezone) if migrate else []
    except Exception as exc:  # reported to the dataflow's process, which stops with it
        conn.send(("error", str(exc) if isinstance(exc, WarehouseError) else f"{type(exc).__name__}: {exc}"))
        return
    # Automatic collection would walk every decoded row again and again (they hold no cycles);
    # one collection after each batch frees what the insert machinery left in cycles.
    gc.collect()
    gc.freeze()
    gc.disable()
    conn.send(("ready", migrated))
    failed = False
    while True:
        try:
            message = conn.recv()
        except EOFError:  # the dataflow's process is gone
            break
        if message[0] == "close":
            client.close()
            conn.send(("closed", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
            break
        if failed:  # nothing more is written after a failure; the dataflow is stopping
            continue
        try:
            written = write_table_rows(client, decode_batch(message[1]))
            done_ms = time.time_ns() // 1_000_000  # the rows are queryable from now (not when the dataflow reads this)
            del message
            gc.collect()
            conn.send(("written", written, done_ms))
        except Exception as exc:
            failed = True
            conn.send(("error", f"writing to the warehouse failed: {type(exc).__name__}: {exc}"))
