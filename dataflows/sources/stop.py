"""A clean stop on SIGTERM or SIGINT: the sources end as if their input ended.

The first signal asks every source partition to end at its next read (a ``StopIteration``,
exactly like the end of a file), so the dataflow finishes normally: the last epoch's rows
are written, the final snapshot (offsets included) is committed, and the process exits 0.
A second signal interrupts at once.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

import structlog

log = structlog.get_logger(__name__)

_STOP = threading.Event()
_SIGNAL: list[str] = []


def stop_requested() -> bool:
    return _STOP.is_set()


def stopped_by() -> str | None:
    """The signal that stopped this run, if one did."""
    return _SIGNAL[0] if _SIGNAL else None


def _on_signal(signum: int, frame: FrameType | None) -> None:
    name = signal.Signals(signum).name
    if _STOP.is_set():
        raise KeyboardInterrupt(f"{name} again: stopping at once")
    _SIGNAL.append(name)
    _STOP.set()
    log.info("stop requested: the sources end at their next read", signal=name)


def install() -> Callable[[], None]:
    """Install the handlers (main thread only); returns a function restoring the previous ones."""
    _STOP.clear()
    _SIGNAL.clear()
    previous: dict[int, Any] = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for s, handler in previous.items():
            signal.signal(s, handler)

    return restore
