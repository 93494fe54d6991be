"""Bytewax source over topic files (the file form of SPEC §2).

Each file is one partition; its resume state is the byte offset of the next
line, so a recovered dataflow continues exactly where its snapshot was. An
item is a *batch* of records (a list), which keeps Bytewax's per-item cost
off the hot path. A line whose envelope is broken still becomes a record
(topic ``(file)``, partition -1, offset = line number) so that validation
quarantines it like any other malformed payload.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import msgspec
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from dataflows.metrics import RECORDS_IN
from scout_contract import SourceRecord, decode_record_line

Progress = Callable[[int], None]

BROKEN_ENVELOPE_TOPIC = "(file)"


def parse_lines(lines: list[bytes], first_line_no: int) -> list[SourceRecord]:
    """Decode file lines into records; broken envelopes become raw records."""
    out: list[SourceRecord] = []
    for i, line in enumerate(lines):
        try:
            out.append(decode_record_line(line))
        except (msgspec.DecodeError, msgspec.ValidationError):
            out.append(SourceRecord(BROKEN_ENVELOPE_TOPIC, -1, first_line_no + i, 0, None, line.rstrip(b"\r\n")))
    return out


class _FilePartition(StatefulSourcePartition[list[SourceRecord], tuple[int, int]]):
    def __init__(self, path: Path, batch_size: int, resume: tuple[int, int] | None, progress: Progress | None):
        self._f = path.open("rb")
        self._offset, self._line_no = resume or (0, 0)
        self._f.seek(self._offset)
        self._batch_size = batch_size
        self._progress = progress
        self._source = str(path.name)

    def next_batch(self) -> list[list[SourceRecord]]:
        lines: list[bytes] = []
        readline = self._f.readline
        for _ in range(self._batch_size):
            line = readline()
            if not line:
                break
            if line.strip():
                lines.append(line)
        if not lines:
            raise StopIteration()
        before = self._offset
        self._offset = self._f.tell()
        records = parse_lines(lines, self._line_no)
        self._line_no += len(lines)
        RECORDS_IN.labels(self._source).inc(len(records))
        if self._progress:
            self._progress(self._offset - before)
        return [records]

    def next_awake(self) -> datetime | None:
        return None

    def snapshot(self) -> tuple[int, int]:
        return (self._offset, self._line_no)

    def close(self) -> None:
        self._f.close()


class TopicFileSource(FixedPartitionedSource[list[SourceRecord], tuple[int, int]]):
    """Reads one or more topic files; yields batches of :class:`SourceRecord`."""

    def __init__(self, paths: list[Path], batch_size: int = 20_000, progress: Progress | None = None) -> None:
        self.paths = {str(p): Path(p) for p in paths}
        self.batch_size = batch_size
        self.progress = progress

    def list_parts(self) -> list[str]:
        return list(self.paths)

    def build_part(self, step_id: str, for_part: str, resume_state: tuple[int, int] | None) -> _FilePartition:
        return _FilePartition(self.paths[for_part], self.batch_size, resume_state, self.progress)
