"""Child processes die with their parent: no orphan holds the warehouse or a cluster port.

``scout run`` starts a writer process (it owns the chDB directory) and, with ``--processes N``,
N Bytewax workers. If the parent is killed (SIGKILL, the OOM killer, a node losing a pod), those
children must not live on: an orphaned writer keeps the chDB lock, so a restart right after the
kill failed with exit 4, and orphaned workers kept a half cluster running. Each child calls
:func:`die_with_parent` first thing: on Linux the kernel then sends it SIGKILL when its parent
dies (``PR_SET_PDEATHSIG``), and a parent that died before the call is caught by comparing the
parent's pid. Unflushed work is not lost by the kill: it belongs to an epoch Bytewax has not
committed, which the resumed run produces again.

``PR_SET_PDEATHSIG`` fires when the *thread* that started the child ends, so children are started
from the main thread (``ProcessWriter`` is entered and the cluster's workers are started there).
Elsewhere than Linux the call does nothing; the writer still ends when its pipe closes.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

#: The environment variable through which a parent hands its pid to the children it execs.
PARENT_PID_ENV = "SCOUT_PARENT_PID"
_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int | None) -> None:
    """Ask the kernel for SIGKILL when this process's parent dies; exit now if it already has."""
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(1)  # the parent died before the request took effect: it has no one to report to


def parent_pid_from_env() -> int | None:
    """The pid a parent put in :data:`PARENT_PID_ENV`, if any."""
    value = os.environ.get(PARENT_PID_ENV, "")
    return int(value) if value.isdigit() else None
