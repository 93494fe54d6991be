"""Store simulator (``scout simulate``): deterministic events for N stores × M devices."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from dataflows.simulator.stores import BROKEN_ENVELOPE, SimConfig, simulate
from scout_contract import SourceRecord, encode_record_line

__all__ = ["BROKEN_ENVELOPE", "SimConfig", "simulate", "write_topic_file"]


def write_topic_file(records: Iterable[SourceRecord], path: Path, progress: Callable[[int], None] | None = None) -> int:
    """Write records in the file form of SPEC §2; returns how many were written.

    A record marked with the broken-envelope topic is written as a truncated
    line, as a torn write would leave it.
    """
    n = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        for rec in records:
            if rec.topic == BROKEN_ENVELOPE:
                line = encode_record_line(rec)
                f.write(line[: len(line) // 3] + b"\n")
            else:
                f.write(encode_record_line(rec) + b"\n")
            n += 1
            if progress and n % 10_000 == 0:
                progress(10_000)
    if progress:
        progress(n % 10_000)
    return n
