"""Time-aligned merge of the inputs that feed one partition number (Kafka topics, event hubs).

Records of each input arrive in offset order, but not in timestamp order: one Kafka partition
carries many devices, each stamping its own CreateTime, so timestamps step back within an input
all the time. :class:`TimeAligned` hands records on smallest record timestamp first across inputs
(ties: input rank, then offset) up to a horizon that no input can hold back forever: the
smallest *newest timestamp fetched* among the inputs not ``done`` (caught up, or at the end of
a bounded run). An input with nothing buffered holds the merge back until it delivers a record
or is ``done``. Pure Python; the source adapters feed it.

What is handed on from one input is always a prefix of its buffer (offset order), so the next
offset to read is the highest handed on + 1; within one take, records are ordered by timestamp.

>>> from scout_contract import SourceRecord
>>> m = TimeAligned(["stt", "visual"])
>>> m.add("visual", SourceRecord("visual", 0, 0, 30, None, b""))
>>> m.take(done=lambda name: False)  # stt has delivered nothing yet: wait for it
[]
>>> m.add("stt", SourceRecord("stt", 0, 0, 20, None, b""))
>>> [r.topic for r in m.take(done=lambda name: name == "stt")]
['stt', 'visual']

A timestamp that steps back is not held behind a newer one of the same input:

>>> for offset, ts in enumerate((100, 2100, 1100)):
...     m.add("stt", SourceRecord("stt", 0, offset, ts, None, b""))
>>> [r.timestamp_ms for r in m.take(done=lambda name: name == "visual")]
[100, 1100, 2100]
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from scout_contract import SourceRecord


class TimeAligned:
    """Per-input buffers of one partition number and the merge over them."""

    def __init__(self, inputs: list[str]) -> None:
        self.inputs = list(inputs)
        self.buffers: dict[str, deque[SourceRecord]] = {name: deque() for name in inputs}
        #: the newest record timestamp each input has fetched (its horizon)
        self.newest: dict[str, int] = {}

    def add(self, name: str, record: SourceRecord) -> None:
        self.buffers[name].append(record)
        ts = record.timestamp_ms
        if ts > self.newest.get(name, ts - 1):
            self.newest[name] = ts

    def empty(self) -> bool:
        return not any(self.buffers.values())

    def take(self, done: Callable[[str], bool]) -> list[SourceRecord]:
        """Records in time order up to the *horizon*: the smallest newest-fetched timestamp of the
        inputs not ``done``. The input that sets it hands on everything it has buffered, so every
        take makes progress once each input not ``done`` has delivered something, and a bounded
        run always ends; another input's records wait at most until that one's newest passes
        them. An input not ``done`` with nothing buffered holds everything back. What is handed
        on is bounded by what was fetched (the source fetches ``batch_size`` records a call).

        The records up to the horizon are taken from the head of each buffer (a prefix, in offset
        order), concatenated in input order and sorted by timestamp with a stable sort: the result
        is ordered by (timestamp, input, offset) at C speed, with no per-record heap operations.
        """
        horizon: int | None = None
        for name, buf in self.buffers.items():
            if done(name):
                continue
            if not buf:
                return []
            newest = self.newest[name]
            horizon = newest if horizon is None or newest < horizon else horizon
        out: list[SourceRecord] = []
        for buf in self.buffers.values():
            if horizon is None:  # every input is done: all that is buffered may go
                out.extend(buf)
                buf.clear()
                continue
            while buf and buf[0].timestamp_ms <= horizon:
                out.append(buf.popleft())
        out.sort(key=_timestamp)
        return out


def _timestamp(record: SourceRecord) -> int:
    return record.timestamp_ms
