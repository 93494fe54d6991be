"""Bytewax sink publishing records to a topic file (the SPEC §2 file form).

Used for ``eh-pi-annotated-events`` until the Kafka sink lands: one partition
(0), offsets counted from the end of the existing file, record timestamp =
time of writing. Lines are flushed and fsynced at every epoch end, so an
epoch Bytewax has committed is on disk (at-least-once: after a crash the last
epoch may be written again; consumers dedup by ``event_id`` + ``interaction_id``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition

from scout_contract import SourceRecord, encode_record_line


class _TopicFilePartition(StatefulSinkPartition[list[SourceRecord], int]):
    def __init__(self, path: Path, topic: str, resume: int | None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._f = path.open("ab")
        self._topic = topic
        self._offset = resume if resume is not None else sum(1 for _ in path.open("rb"))

    def write_batch(self, values: list[list[SourceRecord]]) -> None:
        now = time.time_ns() // 1_000_000
        for records in values:
            for rec in records:
                line = SourceRecord(self._topic, 0, self._offset, now, rec.key, rec.value)
                self._f.write(encode_record_line(line) + b"\n")
                self._offset += 1

    def snapshot(self) -> int:
        self._f.flush()
        os.fsync(self._f.fileno())
        return self._offset

    def close(self) -> None:
        self.snapshot()
        self._f.close()


class TopicFileSink(FixedPartitionedSink[list[SourceRecord], int]):
    """Appends records (``key``, ``value`` taken from each item) to ``path`` as ``topic``."""

    def __init__(self, path: Path, topic: str) -> None:
        self.path = path
        self.topic = topic

    def list_parts(self) -> list[str]:
        return ["0"]

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _TopicFilePartition:
        return _TopicFilePartition(self.path, self.topic, resume_state)
