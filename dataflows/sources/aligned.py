"""Time-aligned merge of the inputs that feed one partition number (Kafka topics, event hubs).

Records of each input arrive in offset order; :class:`TimeAligned` hands them on smallest
record timestamp first across inputs (ties: input rank, then offset). An input with nothing
buffered holds the merge back until it delivers a record or is known to have nothing more
(``done``: caught up, or at the end of a bounded run). Pure Python; the source adapters feed it.

>>> from scout_contract import SourceRecord
>>> m = TimeAligned(["stt", "visual"])
>>> m.add("visual", SourceRecord("visual", 0, 0, 30, None, b""))
>>> m.take(10, done=lambda name: False)  # stt has delivered nothing yet: wait for it
[]
>>> m.add("stt", SourceRecord("stt", 0, 0, 20, None, b""))
>>> [r.topic for r in m.take(10, done=lambda name: name == "stt")]
['stt', 'visual']
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable

from scout_contract import SourceRecord


class TimeAligned:
    """Per-input buffers of one partition number and the merge over them."""

    def __init__(self, inputs: list[str]) -> None:
        self.inputs = list(inputs)
        self._rank = {name: i for i, name in enumerate(inputs)}
        self.buffers: dict[str, deque[SourceRecord]] = {name: deque() for name in inputs}

    def add(self, name: str, record: SourceRecord) -> None:
        self.buffers[name].append(record)

    def empty(self) -> bool:
        return not any(self.buffers.values())

    def _head(self, name: str) -> tuple[int, int, int, str]:
        first = self.buffers[name][0]
        return first.timestamp_ms, self._rank[name], first.offset, name

    def take(self, limit: int, done: Callable[[str], bool]) -> list[SourceRecord]:
        """Up to ``limit`` records in time order, stopping where an input not ``done`` runs dry."""
        out: list[SourceRecord] = []
        heads = [self._head(name) for name, buf in self.buffers.items() if buf]
        heapq.heapify(heads)
        waiting = any(not buf and not done(name) for name, buf in self.buffers.items())
        while heads and not waiting and len(out) < limit:
            *_, name = heapq.heappop(heads)
            buf = self.buffers[name]
            out.append(buf.popleft())
            if buf:
                heapq.heappush(heads, self._head(name))
            elif not done(name):
                waiting = True
        return out
