"""Event clocks of many keys over whole batches: the columnar form of lateness and duplicates.

:class:`~dataflows.silver.event_clock.DeviceClock` decides, event by event, whether an
accepted event is late (older than its key's stream-group watermark), a duplicate (an id the
group first saw no earlier than the watermark) or on time. :class:`EventClocks` decides the
same for a whole batch of many keys at once, from four Arrow columns (key, stream group, event
time, event id) in arrival order, with no Python object per event: the loop runs in the
compiled core (``scout_decode.EventClocks``, the Rust crate in ``dataflows/bronze/native``,
module ``clock``), or — on a machine without it — in :class:`PyEventClocks`, the pure-Python
fallback with the same verdicts. It is the first part of the columnar engine's per-key step
(:mod:`dataflows.silver.columnar_device`, one per group of keys).

``tests/dataflows/silver/test_columnar_clock.py`` holds both to ``DeviceClock``'s verdicts,
watermarks and remembered ids on hypothesis-generated batches, split and resumed anywhere.

Its snapshot is a :class:`ClocksState`: per key, the same data as ``ClockState.max_ts`` and
``ClockState.seen`` (a copy, with a version).
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc

from dataflows.bronze.columnar import le_bytes, le_values
from scout_contract.streams import STREAMS

#: The stream groups, in the order the kernels number them.
GROUPS: tuple[str, ...] = tuple(dict.fromkeys(s.clock_group for s in STREAMS))
#: The verdicts (``scout_decode.ON_TIME`` … ``DUPLICATE``).
ON_TIME, LATE, DUPLICATE = 0, 1, 2
#: The watermark a kernel reports for an event whose group had none.
NO_WATERMARK = -(2**63)
#: A group's ids are pruned at the end of a batch once there are this many (as ``DeviceClock`` does).
PRUNE_AT = 64
#: Version of :class:`ClocksState`.
CLOCKS_STATE_VERSION = 1

#: A group's state as the kernels exchange it: ``(newest event time or None, {event id: event time})``.
GroupTuple = tuple[int | None, dict[str, int]]


@dataclass(frozen=True, slots=True)
class ClocksState:
    """The clocks of a set of keys at a snapshot: a copy, never changed by the clocks afterwards."""

    #: key → stream group → newest on-time event time (ms): ``ClockState.max_ts`` of each key
    max_ts: dict[str, dict[str, int]]
    #: key → stream group → event id → event time (ms): ``ClockState.seen`` of each key
    seen: dict[str, dict[str, dict[str, int]]]
    version: int = CLOCKS_STATE_VERSION


@dataclass(frozen=True, slots=True)
class ClockVerdicts:
    """A batch's verdicts, in its order: ``verdict`` (:data:`ON_TIME`, :data:`LATE`,
    :data:`DUPLICATE`) and the ``watermark`` each event met (null where its group had none)."""

    verdict: pa.UInt8Array
    watermark: pa.Int64Array


class Kernel(Protocol):
    """The interface of ``scout_decode.EventClocks`` and :class:`PyEventClocks`: columns as
    little-endian bytes (key codes u32 into ``keys``, groups u8, times i64, the ids as an Arrow
    string column's i32 offsets and data); verdicts u8 and watermarks i64 back."""

    def process(
        self,
        n: int,
        keys: list[str],
        key_codes: bytes,
        groups: bytes,
        ts: bytes,
        id_offsets: bytes,
        id_data: bytes,
    ) -> tuple[bytes, bytes]: ...

    def watermark(self, key: str, group: int) -> int | None: ...

    def snapshot(self) -> dict[str, list[GroupTuple]]: ...

    def restore(self, key: str, groups: list[GroupTuple]) -> None: ...


class PyEventClocks:
    """The pure-Python kernel: what ``scout_decode.EventClocks`` does, event by event."""

    def __init__(self, out_of_orderness_ms: int, n_groups: int) -> None:
        if out_of_orderness_ms < 0:
            raise ValueError(f"out_of_orderness_ms must be >= 0, not {out_of_orderness_ms}")
        self.ooo = out_of_orderness_ms
        self.n_groups = n_groups
        self.newest: dict[str, list[int | None]] = {}
        self.seen: dict[str, list[dict[str, int]]] = {}

    def _key(self, key: str) -> None:
        if key not in self.newest:
            self.newest[key] = [None] * self.n_groups
            self.seen[key] = [{} for _ in range(self.n_groups)]

    def process(
        self, n: int, keys: list[str], key_codes: bytes, groups: bytes, ts: bytes, id_offsets: bytes, id_data: bytes
    ) -> tuple[bytes, bytes]:
        codes, times = le_values(key_codes, n, "<u4", "key_codes"), le_values(ts, n, "<i8", "ts")
        offsets = le_values(id_offsets, n + 1, "<i4", "id_offsets")
        if len(groups) != n:
            raise ValueError(f"groups: {len(groups)} bytes for {n} values")
        if any(c >= len(keys) for c in codes) or any(g >= self.n_groups for g in groups):
            raise ValueError(f"an event names a key beyond {len(keys)} or a group beyond {self.n_groups}")
        id_data.decode()  # UTF-8 throughout, as the compiled kernel requires
        event_ids = []  # every id read before any is applied: a bad batch changes nothing
        for i in range(n):
            lo, hi = offsets[i], offsets[i + 1]
            if not 0 <= lo <= hi <= len(id_data):
                raise ValueError(f"id_offsets: event {i} has no id at {lo}..{hi}")
            event_ids.append(id_data[lo:hi].decode())
        ooo = self.ooo
        verdicts, marks = bytearray(n), array("q", bytes(8 * n))
        for k in keys:
            self._key(k)
        for i, event_id in enumerate(event_ids):
            key, group, t = keys[codes[i]], groups[i], times[i]
            newest = self.newest[key][group]
            low = NO_WATERMARK if newest is None else max(newest - ooo, NO_WATERMARK)
            marks[i] = low
            if newest is not None and t < low:
                verdicts[i] = LATE
                continue
            seen = self.seen[key][group]
            first = seen.get(event_id)
            if first is not None and first >= low:
                verdicts[i] = DUPLICATE
                continue
            seen[event_id] = t
            if newest is None or t > newest:
                self.newest[key][group] = t
        for k in set(keys):
            for g in range(self.n_groups):
                newest = self.newest[k][g]
                if newest is not None and len(self.seen[k][g]) >= PRUNE_AT:
                    low = newest - ooo
                    self.seen[k][g] = {eid: t for eid, t in self.seen[k][g].items() if t >= low}
        return bytes(verdicts), marks.tobytes()

    def watermark(self, key: str, group: int) -> int | None:
        newest = self.newest.get(key, [None] * self.n_groups)[group]
        return None if newest is None else newest - self.ooo

    def snapshot(self) -> dict[str, list[GroupTuple]]:
        return {k: [(n, dict(s)) for n, s in zip(self.newest[k], self.seen[k], strict=True)] for k in self.newest}

    def restore(self, key: str, groups: list[GroupTuple]) -> None:
        if len(groups) != self.n_groups:
            raise ValueError(f"{len(groups)} groups for key {key!r}, not {self.n_groups}")
        self.newest[key] = [n for n, _ in groups]
        self.seen[key] = [dict(s) for _, s in groups]


def native_kernel(out_of_orderness_ms: int) -> Kernel | None:
    """The compiled kernel, or ``None`` when ``scout_decode`` is not built here."""
    try:
        import scout_decode
    except ImportError:
        return None
    kernel: Kernel = scout_decode.EventClocks(out_of_orderness_ms, len(GROUPS))
    return kernel


def _column(values: pa.Array | pa.ChunkedArray, typ: pa.DataType, name: str) -> pa.Array:
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if arr.null_count:
        raise ValueError(f"{name}: {arr.null_count} null value(s); every event has one")
    return arr if arr.type == typ else arr.cast(typ)


class EventClocks:
    """The event clocks of the keys a step holds: :meth:`process` decides a batch's events."""

    def __init__(self, out_of_orderness_ms: int, kernel: Kernel | None = None) -> None:
        self.out_of_orderness_ms = out_of_orderness_ms
        native = native_kernel(out_of_orderness_ms) if kernel is None else kernel
        self.kernel: Kernel = native if native is not None else PyEventClocks(out_of_orderness_ms, len(GROUPS))

    def process(
        self,
        keys: pa.Array | pa.ChunkedArray,
        groups: pa.Array | pa.ChunkedArray,
        ts: pa.Array | pa.ChunkedArray,
        event_ids: pa.Array | pa.ChunkedArray,
    ) -> ClockVerdicts:
        """Decide a batch in arrival order: per event its key (device, or ``store/<id>``), its
        stream group's name (:data:`GROUPS`), its event time (ms) and its id. A column with a
        null, an unknown group or columns of unequal length: ``ValueError``, nothing applied."""
        n = len(ts)
        if {len(keys), len(groups), len(event_ids)} != {n}:
            raise ValueError("the columns differ in length")
        encoded = pc.dictionary_encode(_column(keys, pa.string(), "keys"))
        codes = pc.index_in(_column(groups, pa.string(), "groups"), value_set=pa.array(GROUPS))
        if codes.null_count:
            raise ValueError(
                f"groups: not one of {GROUPS}: {sorted(set(pc.filter(groups, pc.is_null(codes)).to_pylist()))}"
            )
        ids = _column(event_ids, pa.string(), "event_ids")
        offsets = pa.Array.from_buffers(pa.int32(), n + 1, [None, ids.buffers()[1]], offset=ids.offset)
        data = ids.buffers()[2]
        verdicts, marks = self.kernel.process(
            n,
            encoded.dictionary.to_pylist(),
            le_bytes(encoded.indices, pa.uint32()),
            le_bytes(codes, pa.uint8()),
            le_bytes(_column(ts, pa.int64(), "ts"), pa.int64()),
            le_bytes(offsets, pa.int32()),
            b"" if data is None else data.to_pybytes(),
        )
        watermark = pa.Array.from_buffers(pa.int64(), n, [None, pa.py_buffer(marks)])
        return ClockVerdicts(
            pa.Array.from_buffers(pa.uint8(), n, [None, pa.py_buffer(verdicts)]),
            pc.if_else(pc.equal(watermark, NO_WATERMARK), None, watermark),
        )

    def watermark(self, key: str, group: str) -> int | None:
        """A key's watermark of a stream group (``None``: it has seen none of the group's events)."""
        return self.kernel.watermark(key, GROUPS.index(group))

    def snapshot(self) -> ClocksState:
        """A copy of every key's data, in ``ClockState``'s terms (groups without events left out)."""
        max_ts: dict[str, dict[str, int]] = {}
        seen: dict[str, dict[str, dict[str, int]]] = {}
        for key, groups in self.kernel.snapshot().items():
            max_ts[key] = {GROUPS[g]: newest for g, (newest, _) in enumerate(groups) if newest is not None}
            seen[key] = {GROUPS[g]: dict(ids) for g, (newest, ids) in enumerate(groups) if newest is not None}
        return ClocksState(max_ts, seen)

    def restore(self, state: ClocksState) -> None:
        """Take the data of a snapshot (copied: the snapshot stays as it was)."""
        if state.version != CLOCKS_STATE_VERSION:
            raise ValueError(
                f"event-clocks state of version {state.version}; this version reads {CLOCKS_STATE_VERSION}"
            )
        for key, newest in state.max_ts.items():
            seen = state.seen.get(key, {})
            self.kernel.restore(key, [(newest.get(g), dict(seen.get(g, {}))) for g in GROUPS])
