"""The time-aligned merge over the inputs of one partition number (dataflows/sources/aligned.py).

In Kafka one partition carries many devices, each stamping its own CreateTime, so record
timestamps step back within a partition all the time: the merge must never hold a record back
forever, and hands every record on exactly once.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dataflows.sources.aligned import TimeAligned
from scout_contract import SourceRecord

T = 1_747_641_600_000


def _record(topic: str, offset: int, ts: int) -> SourceRecord:
    return SourceRecord(topic, 0, offset, ts, None, b"")


def test_a_timestamp_that_steps_back_does_not_stall_a_bounded_run() -> None:
    """Three records T+100, T+2100, T+1100 in one partition: all handed on, oldest first."""
    merge = TimeAligned(["stt"])
    for offset, ts in enumerate((T + 100, T + 2100, T + 1100)):
        merge.add("stt", _record("stt", offset, ts))
    handed = 0
    done = lambda _name: handed == 3  # noqa: E731  (a bounded run: done once all is handed on)
    out = merge.take(done)
    handed += len(out)
    assert [r.timestamp_ms for r in out] == [T + 100, T + 1100, T + 2100]
    assert merge.empty()


# each input: the timestamps of its records in offset order (stepping back and forth), and how
# many records each fetch brings; the schedule says which input fetches next
_inputs = st.lists(st.lists(st.integers(0, 5_000), min_size=0, max_size=30), min_size=1, max_size=4)


@given(_inputs, st.lists(st.integers(0, 3), min_size=1, max_size=200), st.integers(1, 7), st.booleans())
def test_any_interleaving_ends_and_hands_every_record_on_exactly_once(
    timestamps: list[list[int]], schedule: list[int], fetch: int, bounded: bool
) -> None:
    names = [f"topic-{i}" for i in range(len(timestamps))]
    merge = TimeAligned(names)
    fetched = dict.fromkeys(names, 0)
    handed: dict[str, list[int]] = {n: [] for n in names}

    def done(name: str) -> bool:
        everything = len(timestamps[names.index(name)])
        if bounded:  # stop_at_end: done once every record up to the end was handed on
            return len(handed[name]) == everything
        return fetched[name] == everything  # tailing: caught up with the broker's end

    steps = 0
    total = sum(map(len, timestamps))
    while sum(map(len, handed.values())) < total:
        steps += 1
        assert steps <= len(schedule) + 4 * total + 10, "the merge stalled"
        name = names[schedule[steps % len(schedule)] % len(names)]
        if fetched[name] == len(timestamps[names.index(name)]):  # like consume(): whatever is left
            name = next((n for n in names if fetched[n] < len(timestamps[names.index(n)])), name)
        i = names.index(name)
        for _ in range(fetch):
            if fetched[name] < len(timestamps[i]):
                merge.add(name, _record(name, fetched[name], T + timestamps[i][fetched[name]]))
                fetched[name] += 1
        out = merge.take(done)
        assert [r.timestamp_ms for r in out] == sorted(r.timestamp_ms for r in out)
        for r in out:
            handed[r.topic].append(r.offset)
        # what an input has handed on is always a prefix of its offsets: a snapshot of the next
        # offset to read (the highest handed on + 1) skips nothing
        assert all(sorted(offsets) == list(range(len(offsets))) for offsets in handed.values())
    # exactly once
    everything = {n: list(range(len(ts))) for n, ts in zip(names, timestamps, strict=True)}
    assert {n: sorted(o) for n, o in handed.items()} == everything
    assert merge.empty()
