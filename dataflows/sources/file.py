"""Bytewax source over topic files (the file form of SPEC §2).

Each file is one partition; its resume state is the byte offset of the next
line, so a recovered dataflow continues exactly where its snapshot was. An
item is a *batch* of records (a list), which keeps Bytewax's per-item cost
off the hot path.

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
from datetime import datetime
from pathlib import Path

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


class _FilePartition(StatefulSourcePartition[list[SourceRecord], dict[str, int]]):
    def __init__(
        self,
        path: Path,
        batch_size: int,
        resume: object,
        progress: Progress | None,
        keep_partial: bool,
        max_record_bytes: int = MAX_RECORD_BYTES,
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

    def next_batch(self) -> list[list[SourceRecord]]:
        if stop_requested():
            raise StopIteration()
        records: list[SourceRecord] = []
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
                records.append(record)
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
                    records.append(record)
                offset += len(line)
                break
            if line.strip():
                records.append(parse_line(line, self._topic, offset))
            offset += len(line)
        before, self._offset = self._offset, offset
        self._f.seek(offset)
        if not records and offset == before:
            if self.partial_bytes:
                log.warning(
                    "last line of the file is incomplete: left unread for the next run",
                    file=self._source, offset=offset, bytes=self.partial_bytes,
                )  # fmt: skip
            raise StopIteration()
        RECORDS_IN.labels(self._source).inc(len(records))
        if self._progress:
            self._progress(offset - before)
        return [records] if records else []

    def next_awake(self) -> datetime | None:
        return None

    def snapshot(self) -> dict[str, int]:
        mark_epoch()  # an epoch of this process ended (liveness, dataflows/health.py)
        return {"version": STATE_VERSION, "offset": self._offset}

    def close(self) -> None:
        self._f.close()


class TopicFileSource(FixedPartitionedSource[list[SourceRecord], dict[str, int]]):
    """Reads one or more topic files; yields batches of :class:`SourceRecord`.

    ``keep_partial``: leave an incomplete last line unconsumed (for runs that
    can be resumed) instead of quarantining it. ``max_record_bytes``: longest
    line read as a record.
    """

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

    def build_part(self, step_id: str, for_part: str, resume_state: dict[str, int] | None) -> _FilePartition:
        return _FilePartition(
            self.paths[for_part], self.batch_size, resume_state, self.progress, self.keep_partial, self.max_record_bytes
        )


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
