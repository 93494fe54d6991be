"""Supervision: any failure of a worker is contained, reported and retried with backoff."""

from __future__ import annotations

import threading
import time

from edge_runtime.agent import Supervisor


def test_unexpected_exception_is_supervised_and_retried() -> None:
    stop = threading.Event()
    supervisor = Supervisor(stop, final_failures=False)
    calls: list[float] = []

    def body() -> None:
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise KeyError("boom")  # not one of the agent's own errors

    supervisor.spawn("vision", body)
    supervisor.threads["vision"].join(timeout=10)
    state = supervisor.states["vision"]
    assert state.state == "done" and state.restarts == 2
    assert calls[2] - calls[1] >= 1.9  # backoff doubles: 1 s, then 2 s
    assert state.problem == "vision: KeyError: 'boom'"


def test_final_failure_mode_stops_at_the_first_error() -> None:
    supervisor = Supervisor(threading.Event(), final_failures=True)

    def body() -> None:
        raise OSError("disk gone")

    supervisor.spawn("speech", body)
    supervisor.threads["speech"].join(timeout=5)
    assert supervisor.states["speech"].state == "failed"
    assert supervisor.problems() == ["speech: OSError: disk gone"]
