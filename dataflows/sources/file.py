"""Bytewax source over topic files (the file form of SPEC §2).

Each file is one partition; its resume state is the byte offset of the next
line, so a recovered dataflow continues exactly where its snapshot was. An
item is a *batch* of records (a list: :class:`TopicFileSource`), which keeps
Bytewax's per-item cost off the hot path, or of lines not yet read as records
(:class:`LineBatch`: :class:`TopicLineSource`, the columnar engine's).

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
T = TypeVar("T")


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


@dataclass(frozen=True, slots=True)
class LineBatch:
    """A batch of a topic file's lines, not yet read as records (what :class:`TopicLineSource` yields:
    the columnar engine's compiled path reads the lines itself, :func:`~dataflows.bronze.columnar.validate_lines`).

    ``lines[i]`` came from byte ``offsets[i]`` of the file ``topic`` names (:func:`file_topic`); a
    record the source made itself (an oversized line: its first bytes and the reason) is in ``made``
    by index, its line ``b""``.
    """

    topic: str
    lines: list[bytes]
    offsets: list[int]
    made: dict[int, SourceRecord]

    def __len__(self) -> int:
        return len(self.lines)

    def record(self, i: int) -> SourceRecord:
        """The ``i``-th line's record, as :class:`TopicFileSource` gives it (a new object per call)."""
        made = self.made.get(i)
        return made if made is not None else parse_line(self.lines[i], self.topic, self.offsets[i])

    def records(self) -> list[SourceRecord]:
        return [self.record(i) for i in range(len(self.lines))]


class _FilePartition(StatefulSourcePartition[T, dict[str, int]]):
    def __init__(
        self,
        path: Path,
        batch_size: int,
        resume: object,
        progress: Progress | None,
        keep_partial: bool,
        max_record_bytes: int,
        item: Callable[[LineBatch], T],
    ) -> None:
        self._f = path.open("rb")
        self._offset = _resume_offset(resume)
        if self._offset == 0 and self._f.read(len(UTF8_BOM)) == UTF8_BOM:
            self._offset = len(UTF8_BOM)
        self._f.seek(self._offset)
        self._batch_size = batch_size
        self._progress = progress
        self._keep_partial = keep_partial
        self._max = max_record_bytes
        self._item = item
        self._topic = file_topic(path)
        self._source = path.name
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
        return SourceRecord(self._topic, -1, offset, 0, None, head[: self._max], reason), length, chunk.endswith(b"\n")

    def next_batch(self) -> list[T]:
        if stop_requested():
            raise StopIteration()
        batch = LineBatch(self._topic, [], [], {})
        lines, offsets = batch.lines, batch.offsets
        readline = self._f.readline
        offset = self._offset
        for _ in range(self._batch_size):
            line = readline(self._max + 1)
            if not line:
                break
            if len(line) > self._max and not line.endswith(b"\n"):
                record, length, whole = self._oversized(line, offset)
                if not whole and self._keep_partial:
                    self.partial_bytes = length
                    break
                batch.made[len(lines)] = record
                lines.append(b"")
                offsets.append(offset)
                offset += length
                if not whole:
                    break
                continue
            if not line.endswith(b"\n"):
                record = parse_line(line, self._topic, offset)
                if record.envelope_error is not None and self._keep_partial:
                    self.partial_bytes = len(line)
                    break
                if line.strip():
                    batch.made[len(lines)] = record
                    lines.append(line)
                    offsets.append(offset)
                offset += len(line)
                break
            if line.strip():
                lines.append(line)
                offsets.append(offset)
            offset += len(line)
        before, self._offset = self._offset, offset
        self._f.seek(offset)
        if not lines and offset == before:
            if self.partial_bytes:
                log.warning(
                    "last line of the file is incomplete: left unread for the next run",
                    file=self._source, offset=offset, bytes=self.partial_bytes,
                )  # fmt: skip
            raise StopIteration()
        RECORDS_IN.labels(self._source).inc(len(lines))
        if self._progress:
            self._progress(offset - before)
        return [self._item(batch)] if lines else []

    def next_awake(self) -> datetime | None:
        return None

    def snapshot(self) -> dict[str, int]:
        mark_epoch()  # an epoch of this process ended (liveness, dataflows/health.py)
        return {"version": STATE_VERSION, "offset": self._offset}

    def close(self) -> None:
        self._f.close()


class _TopicFiles(FixedPartitionedSource[T, dict[str, int]]):
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

    def _item(self, batch: LineBatch) -> T:
        raise NotImplementedError

    def list_parts(self) -> list[str]:
        return list(self.paths)

    def build_part(self, step_id: str, for_part: str, resume_state: dict[str, int] | None) -> _FilePartition[T]:
        return _FilePartition(
            self.paths[for_part], self.batch_size, resume_state, self.progress, self.keep_partial,
            self.max_record_bytes, self._item,
        )  # fmt: skip


class TopicFileSource(_TopicFiles[list[SourceRecord]]):
    """Reads one or more topic files; yields batches of :class:`SourceRecord` (the row engine's input)."""

    def _item(self, batch: LineBatch) -> list[SourceRecord]:
        return batch.records()


class TopicLineSource(_TopicFiles[LineBatch]):
    """Reads one or more topic files as :class:`TopicFileSource` does; yields :class:`LineBatch` es,
    the lines unread (the columnar engine's input: no Python object per line)."""

    def _item(self, batch: LineBatch) -> LineBatch:
        return batch


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
