"""Health answers for probes (Kubernetes), served beside ``/metrics`` on the metrics port.

* ``GET /livez`` — liveness: 200 while the dataflow's epochs advance, that is while the last epoch of
  this process ended (one of its source or warehouse partitions took its epoch snapshot) less than
  ``liveness_epochs`` × ``snapshot_interval_s`` ago; before its first epoch, for ``liveness_startup_s``
  after the start. 503 otherwise: a process whose epochs stopped (a hung worker, a peer gone, a
  deadlock) is restarted, and a resume continues from the last committed epoch.
* ``GET /readyz`` — readiness: 200 when the source can be reached (Kafka: the brokers answer and the
  input topics exist; topic files: they can be read) and the warehouse is reachable and migrated; 503
  naming each check that failed. The checks run when asked, at most once per :data:`READY_CACHE_S`
  (a probe every few seconds does not become a load on the brokers), each bounded in time.

Both answer JSON: ``{"status": "ok" | "failing", ...}`` with what was measured. The state is per
process (:data:`HEALTH`), as Prometheus' registry is: each process of a cluster answers for itself.

>>> now = [0.0]
>>> h = Health(stall_after_s=30, startup_s=120, clock=lambda: now[0])
>>> now[0] = 100.0; h.live()[0]   # no epoch yet, within the start-up time
True
>>> h.epoch(); now[0] = 125.0; h.live()
(True, {'epochs': 1, 'since_last_epoch_s': 25.0, 'limit_s': 30})
>>> now[0] = 131.0; h.live()[0]   # stalled: more than 30 s since the last epoch
False
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

#: Seconds a readiness answer is reused before the checks run again.
READY_CACHE_S = 5.0

#: A readiness check: returns when it passes, raises with one clear sentence when it does not.
Check = Callable[[], None]


class Health:
    """One process's liveness (epochs advancing) and readiness (checks passing)."""

    def __init__(
        self, stall_after_s: float = 30.0, startup_s: float = 120.0, checks: dict[str, Check] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self.stall_after_s, self.startup_s = stall_after_s, startup_s
        self.checks: dict[str, Check] | None = None if checks is None else dict(checks)
        self._clock = clock
        self._started = clock()
        self._last_epoch: float | None = None
        self._epochs = 0
        self._lock = threading.Lock()
        self._ready: tuple[float, bool, dict[str, str]] | None = None

    def configure(self, stall_after_s: float, startup_s: float, checks: dict[str, Check]) -> None:
        """Set the limits and the readiness checks of this run (the start-up time counts from now)."""
        with self._lock:
            self.stall_after_s, self.startup_s, self.checks = stall_after_s, startup_s, dict(checks)
            self._started, self._ready = self._clock(), None

    def epoch(self) -> None:
        """An epoch of this process ended (called from the partitions' ``snapshot``)."""
        self._last_epoch = self._clock()
        self._epochs += 1

    def live(self) -> tuple[bool, dict[str, Any]]:
        now = self._clock()
        if self._last_epoch is None:
            waited = now - self._started
            return waited <= self.startup_s, {"epochs": 0, "since_start_s": round(waited, 1), "limit_s": self.startup_s}
        since = now - self._last_epoch
        detail = {"epochs": self._epochs, "since_last_epoch_s": round(since, 1), "limit_s": self.stall_after_s}
        return since <= self.stall_after_s, detail

    def ready(self) -> tuple[bool, dict[str, str]]:
        """Each check's answer (``ok`` or its sentence); the checks run again after :data:`READY_CACHE_S`."""
        with self._lock:
            now = self._clock()
            if self._ready is not None and now - self._ready[0] < READY_CACHE_S:
                return self._ready[1], self._ready[2]
            if self.checks is None:
                return False, {"run": "starting (its checks are not set up yet)"}
            answers: dict[str, str] = {}
            for name, check in self.checks.items():
                try:
                    check()
                    answers[name] = "ok"
                except Exception as exc:  # any failure is an answer, never an error of the probe
                    text = str(exc).strip()
                    answers[name] = text.splitlines()[0] if text else type(exc).__name__
            ok = all(answer == "ok" for answer in answers.values())
            self._ready = (now, ok, answers)
            return ok, answers


#: This process's health (what ``/livez`` and ``/readyz`` answer from).
HEALTH = Health()


def mark_epoch() -> None:
    """An epoch of this process ended."""
    HEALTH.epoch()
