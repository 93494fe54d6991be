"""Bytewax source over topic files (the file form of SPEC §2).

Each file is one partition; its resume state is the byte offset of the next
line, so a recovered dataflow continues exactly where its snapshot was. An
item is a *batch* of records (a list: :class:`TopicFileSource`), which keeps
Bytewax's per-item cost off the hot path, or a block of whole lines not yet read
as records (:class:`LineBatch`: :class:`TopicLineSource`, the columnar engine's,
with no Python object per line).

Whatever bytes a line holds, it becomes a record: a line that is not a usable
envelope becomes a record with ``envelope_error`` set, topic
``file:<absolute path>``, partition -1 and the line's byte offset as offset
(so its coordinates name the file and never collide with another file's),
and validation quarantines it with its raw bytes.

Only whole lines are consumed. A last line without its newline is either a
finished file written without a final newline or a line still being written:

* if it decodes as a complete record it is consumed;
* otherwise, with ``keep_partial`` (the run has a recovery directory and can
  be resumed) it is *not* consumed: the offset stays before it, a resume
  reads it once it is complete, and the partition reports it;
* otherwise (nothing can resume this run) it is quarantined as broken.

A UTF-8 byte order mark at the start of a file is skipped.

A line longer than ``max_record_bytes`` (default 16 MiB; Kafka's own default
limit is 1 MB) is never held in memory whole: it becomes a quarantined
record holding its first ``max_record_bytes`` bytes, with a reason naming its
length, and the file keeps all of it at the recorded offset.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import structlog
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from dataflows.errors import RecoveryStateError
from dataflows.health import mark_epoch
from dataflows.metrics import RECORDS_IN
from dataflows.sources.stop import stop_requested
from scout_contract import SourceRecord, decode_record_line
from scout_contract.records import UTF8_BOM, EnvelopeError

log = structlog.get_logger(__name__)

Progress = Callable[[int], None]
X = TypeVar("X")


def file_topic(path: Path) -> str:
    """The topic-equivalent that names a file in quarantine coordinates.

    >>> file_topic(Path("/data/events.jsonl"))
    'file:/data/events.jsonl'
    """
    return f"file:{path.resolve()}"


def parse_line(line: bytes, topic: str, offset: int) -> SourceRecord:
    """Decode one file line; a broken envelope becomes a raw record (never raises)."""
    try:
        return decode_record_line(line)
    except EnvelopeError as exc:
        return SourceRecord(topic, -1, offset, 0, None, line.rstrip(b"\r\n"), str(exc))


#: Version of the resume state (``{"version": 2, "offset": n}``); 1 was ``(offset, line_no)``.
STATE_VERSION = 2


def _resume_offset(state: object) -> int:
    if state is None:
        return 0
    if isinstance(state, dict) and state.get("version") == STATE_VERSION and isinstance(state.get("offset"), int):
        return int(state["offset"])
    raise RecoveryStateError(
        f"the recovery directory holds file-source state of another version ({state!r}); "
        "start from a new --recovery-dir (tables are idempotent: re-running the input adds nothing twice)"
    )


#: Longest line read as a record (a larger one is quarantined with its first bytes).
MAX_RECORD_BYTES = 16 << 20


#: Blocks the line source reads whole lines in (a line longer than a block, or than ``max_record_bytes``,
#: is read by the per-line path, as :class:`TopicFileSource` reads every line)
BLOCK_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class LineBatch:
    r"""Whole lines of a topic file, not yet read as records (what :class:`TopicLineSource` yields: the
    columnar engine's compiled path reads them itself, :func:`~dataflows.bronze.columnar.validate_buffer`).

    ``buffer`` holds the file's bytes from byte ``base`` of the file ``topic`` names
    (:func:`file_topic`) up to a newline. Each line that is not blank (only what :meth:`bytes.strip`
    strips) is one record, as the file source reads it.

    >>> batch = LineBatch("file:/data/in.jsonl", "in.jsonl", b'{"a": 1}\n \t\n{"b"\n', 100)
    >>> batch.lines()
    [(0, b'{"a": 1}\n'), (12, b'{"b"\n')]
    >>> [(r.offset, r.envelope_error is None) for r in batch.records()]
    [(100, False), (112, False)]
    """

    topic: str
    #: the file's name (the ``scout_records_in_total`` label)
    source: str
    buffer: bytes
    base: int

    def lines(self) -> list[tuple[int, bytes]]:
        """``(start in the buffer, the line with its newline)`` of each line that is not blank."""
        out = []
        buf, at = self.buffer, 0
        while at < len(buf):
            end = buf.find(b"\n", at) + 1 or len(buf)
            line = buf[at:end]
            if line.strip():  # what the per-line path skips too
                out.append((at, line))
            at = end
        return out

    def record(self, start: int, end: int) -> SourceRecord:
        """The record of the line at ``buffer[start:end]``, as :class:`TopicFileSource` reads it."""
        return parse_line(self.buffer[start:end], self.topic, self.base + start)

    def records(self) -> list[SourceRecord]:
        return [self.record(at, at + len(line)) for at, line in self.lines()]


#: What :class:`TopicLineSource` yields: a block of whole lines, or the record of a line the per-line path read
LineItem = LineBatch | list[SourceRecord]


class _FileReader:
    """One topic file from a resume offset: its lines as records (:meth:`records`, every line by
    itself) or as blocks of whole lines (:meth:`block`)."""

    def __init__(
        self, path: Path, resume: object, progress: Progress | None, keep_partial: bool, max_record_bytes: int
    ) -> None:
        self._f = path.open("rb")
        self.offset = _resume_offset(resume)
        if self.offset == 0 and self._f.read(len(UTF8_BOM)) == UTF8_BOM:
            self.offset = len(UTF8_BOM)
        self._f.seek(self.offset)
        self._progress = progress
        self._keep_partial = keep_partial
        self._max = max_record_bytes
        self.topic = file_topic(path)
        self.source = path.name
        self.partial_bytes = 0

    def _oversized(self, head: bytes, offset: int) -> tuple[SourceRecord, int, bool]:
        """Skip the rest of a line longer than the limit; returns its record, length, and
        whether the line was complete (ended by a newline)."""
        length = len(head)
        while True:
            chunk = self._f.readline(1 << 20)
            length += len(chunk)
            if not chunk or chunk.endswith(b"\n"):
                break
        reason = (
            f"line of {length} bytes exceeds max_record_bytes ({self._max}); the payload holds its first "
            f"{self._max} bytes, the file all of it at this offset"
        )
        return SourceRecord(self.topic, -1, offset, 0, None, head[: self._max], reason), length, chunk.endswith(b"\n")

    def _advanced(self, before: int, records: int) -> None:
        RECORDS_IN.labels(self.source).inc(records)
        if self._progress:
            self._progress(self.offset - before)

    def records(self, limit: int) -> list[SourceRecord]:
        """The records of up to ``limit`` lines; ``StopIteration`` at the end of the file."""
        records: list[SourceRecord] = []
        readline = self._f.readline
        offset = self.offset
        for _ in range(limit):
            line = readline(self._max + 1)
            if not line:
                break
            if len(line) > self._max and not line.endswith(b"\n"):
                record, length, whole = self._oversized(line, offset)
                if not whole and self._keep_partial:
                    self.partial_bytes = length
                    break
                records.append(record)
                offset += length
                if not whole:
                    break
                continue
            if not line.endswith(b"\n"):
                record = parse_line(line, self.topic, offset)
                if record.envelope_error is not None and self._keep_partial:
                    self.partial_bytes = len(line)
                    break
                if line.strip():
                    records.append(record)
                offset += len(line)
                break
            if line.strip():
                records.append(parse_line(line, self.topic, offset))
            offset += len(line)
        before, self.offset = self.offset, offset
        self._f.seek(offset)
        if not records and offset == before:
            if self.partial_bytes:
                log.warning(
                    "last line of the file is incomplete: left unread for the next run",
                    file=self.source, offset=offset, bytes=self.partial_bytes,
                )  # fmt: skip
            raise StopIteration()
        self._advanced(before, len(records))
        return records

    def block(self, lines: int) -> LineBatch | None:
        """Whole lines, about ``lines`` of them, read in blocks of at most :data:`BLOCK_BYTES` (and of
        ``max_record_bytes`` + 1, so that no line in them is oversized); ``None`` when the next line
        has no newline within a block (longer, or the file's last): :meth:`records` reads it."""
        size = min(BLOCK_BYTES, self._max + 1)
        parts: list[bytes] = []
        newlines = 0
        while newlines < lines:
            block = self._f.read(size)
            cut = block.rfind(b"\n") + 1
            if cut < len(block):
                self._f.seek(cut - len(block), 1)  # the next block starts at the cut line
            if not cut:
                break
            parts.append(block if cut == len(block) else block[:cut])
            newlines += block.count(b"\n", 0, cut)
        if not parts:
            return None
        buffer = parts[0] if len(parts) == 1 else b"".join(parts)
        batch = LineBatch(self.topic, self.source, buffer, self.offset)
        self.offset += len(buffer)
        if self._progress:
            self._progress(len(buffer))
        return batch  # scout_records_in_total: counted when the lines are validated (blank ones are none)

    def close(self) -> None:
        self._f.close()


class _Partition(StatefulSourcePartition[X, dict[str, int]]):
    """One topic file as a Bytewax partition; the subclass says what an item is (:meth:`next_batch`)."""

    def __init__(self, reader: _FileReader, batch_size: int) -> None:
        self.reader = reader
        self._batch_size = batch_size

    def next_awake(self) -> datetime | None:
        return None

    def snapshot(self) -> dict[str, int]:
        mark_epoch()  # an epoch of this process ended (liveness, dataflows/health.py)
        return {"version": STATE_VERSION, "offset": self.reader.offset}

    def close(self) -> None:
        self.reader.close()


class _FilePartition(_Partition[list[SourceRecord]]):
    def next_batch(self) -> list[list[SourceRecord]]:
        if stop_requested():
            raise StopIteration()
        records = self.reader.records(self._batch_size)
        return [records] if records else []


class _LinePartition(_Partition[LineItem]):
    def next_batch(self) -> list[LineItem]:
        if stop_requested():
            raise StopIteration()
        batch = self.reader.block(self._batch_size)
        if batch is not None:
            return [batch]
        records = self.reader.records(1)  # a line longer than a block, or the file's last without a newline
        return [records] if records else []


class _TopicFiles:
    """Reads one or more topic files, one partition each; ``keep_partial``: leave an incomplete last
    line unconsumed (for runs that can be resumed) instead of quarantining it; ``max_record_bytes``:
    longest line read as a record."""

    def __init__(
        self,
        paths: list[Path],
        batch_size: int = 20_000,
        progress: Progress | None = None,
        keep_partial: bool = False,
        max_record_bytes: int = MAX_RECORD_BYTES,
    ) -> None:
        self.paths = {str(p): Path(p) for p in paths}
        self.batch_size = batch_size
        self.progress = progress
        self.keep_partial = keep_partial
        self.max_record_bytes = max_record_bytes

    def list_parts(self) -> list[str]:
        return list(self.paths)

    def _reader(self, part: str, resume_state: object) -> _FileReader:
        return _FileReader(self.paths[part], resume_state, self.progress, self.keep_partial, self.max_record_bytes)


class TopicFileSource(_TopicFiles, FixedPartitionedSource[list[SourceRecord], dict[str, int]]):
    """Reads one or more topic files; yields batches of :class:`SourceRecord` (the row engine's input)."""

    def build_part(self, step_id: str, for_part: str, resume_state: dict[str, int] | None) -> _FilePartition:
        return _FilePartition(self._reader(for_part, resume_state), self.batch_size)


class TopicLineSource(_TopicFiles, FixedPartitionedSource[LineItem, dict[str, int]]):
    """Reads one or more topic files as :class:`TopicFileSource` does, as :class:`LineBatch` es of whole
    lines not yet read (the columnar engine's input: no Python object per line); a line the blocks do not
    hold whole (longer than a block, or the file's last without a newline) comes as its record alone."""

    def build_part(self, step_id: str, for_part: str, resume_state: dict[str, int] | None) -> _LinePartition:
        return _LinePartition(self._reader(for_part, resume_state), self.batch_size)


def read_batches(
    paths: list[Path], batch_size: int = 20_000, progress: Progress | None = None
) -> Iterator[list[SourceRecord]]:
    """The batches of records the dataflow's file source reads, file after file, outside Bytewax
    (``scout contract check``): the same byte order mark, oversized and torn lines."""
    source = TopicFileSource(paths, batch_size=batch_size, progress=progress)
    for part in source.list_parts():
        reader = source.build_part("read", part, None)
        try:
            while True:
                try:
                    batches = reader.next_batch()
                except StopIteration:
                    break
                yield from batches
        finally:
            reader.close()
