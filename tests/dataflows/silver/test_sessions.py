from __future__ import annotations

import random

from dataflows.bronze.rules import RuleSet
from dataflows.bronze.validate import Validator
from dataflows.config import WindowConfig
from dataflows.silver.annotate import Lexicon
from dataflows.silver.event_clock import DeviceClock
from dataflows.silver.facts import InteractionFact
from dataflows.silver.sessions import Member, SessionWindows
from tests.factories import T0, record, stt, visual


def _frame(t: int, eid: str) -> Member:
    return Member(start=t, end=t, event_id=eid, kind="frame", people=1)


def test_a_bridging_member_merges_two_open_sessions() -> None:
    w = SessionWindows(gap_ms=10)
    w.add(_frame(0, "a"))
    w.add(_frame(25, "b"))
    assert len(w.open) == 2
    w.add(Member(start=8, end=16, event_id="c", kind="utterance"))
    assert [(s.start, s.end, len(s.members)) for s in w.open] == [(0, 25, 3)]


def test_a_session_closes_only_after_watermark_passes_end_plus_gap() -> None:
    w = SessionWindows(gap_ms=10)
    w.add(Member(start=0, end=5, event_id="a", kind="utterance"))
    assert w.close_until(watermark=15) == []
    assert [s.end for s in w.close_until(watermark=16)] == [5]


def _reference_sessions(events: list[tuple[int, int, str]], gap: int) -> list[tuple[int, int, int]]:
    """Independent batch definition: sort by start, new session when start > max end + gap."""
    out: list[list[int]] = []
    for start, end, _ in sorted(events, key=lambda e: (e[0], e[2])):
        if out and start <= out[-1][1] + gap:
            out[-1][1] = max(out[-1][1], end)
            out[-1][2] += 1
        else:
            out.append([start, end, 1])
    return [tuple(s) for s in out]  # type: ignore[misc]


def test_streaming_sessions_equal_batch_sessions_under_bounded_disorder(rules: RuleSet, lexicon: Lexicon) -> None:
    cfg = WindowConfig(session_gap_ms=30_000, out_of_orderness_ms=10_000)
    for seed in range(25):
        rng = random.Random(seed)
        t, payloads = T0, []
        for _ in range(rng.randrange(20, 200)):
            t += rng.choice([500, 2_000, 9_000, 25_000, 29_000, 31_000, 120_000])
            if rng.random() < 0.5:
                payloads.append(stt(t, text="hello po", duration_ms=rng.randrange(200, 20_000)))
            else:
                payloads.append(visual(t))
        # arrival = event time + a delay below the bound; arrival order is by arrival time
        arrivals = sorted(payloads, key=lambda p: _ts(p) + rng.randrange(0, 9_000))
        accepted = Validator(rules).validate([record(p) for p in arrivals]).accepted
        clock = DeviceClock(cfg, lexicon)
        got = []
        i = 0
        while i < len(accepted):  # random batch boundaries must not matter
            n = rng.randrange(1, 40)
            out = clock.process(accepted[i : i + n], now_ms=0)
            assert not out.rows.rows.get("late_events"), "disorder within the bound is never late"
            got += [f.interaction for f in out.facts if isinstance(f, InteractionFact)]
            i += n
        got += [f.interaction for f in clock.flush(0).facts if isinstance(f, InteractionFact)]
        expected = _reference_sessions(
            [(_ts(p), _ts(p) + p.get("duration_ms", 0), p["event_id"]) for p in payloads], cfg.session_gap_ms
        )
        assert sorted((it.started_at, it.ended_at, it.n_utterances + it.n_frames) for it in got) == expected


def _ts(p: dict[str, object]) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(str(p["ts"])).timestamp() * 1000)
