"""Multi-process runs on one machine (``scout run --processes N``).

The parent starts N worker processes (``scout worker``) that form one Bytewax cluster over
127.0.0.1 ports chosen at start; Bytewax spreads the source partitions (Kafka partition numbers,
or topic files) over them. The parent never opens the warehouse: it migrates through a
``scout db migrate`` process first, and in chDB mode exactly one worker — the one owning the
single writer partition — opens the chDB directory (one process per directory). Against a
ClickHouse server every worker writes. SIGTERM/SIGINT are forwarded to the workers, which stop
cleanly; the parent exits with the first non-zero worker exit code. Workers die with the parent
(:mod:`dataflows.lifeline`): a killed parent leaves no half cluster running.

Settings reach the workers whole (secrets included) through one environment variable, never
through arguments (``ps`` shows arguments) or files.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from types import FrameType
from typing import Any

import structlog
from pydantic import SecretStr

from dataflows.config import Settings
from dataflows.lifeline import PARENT_PID_ENV

log = structlog.get_logger(__name__)

SETTINGS_ENV = "SCOUT_WORKER_SETTINGS"
SOURCES_ENV = "SCOUT_WORKER_SOURCES"


def _reveal(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: _reveal(v) for k, v in value.items()}
    return value


def settings_json(settings: Settings) -> str:
    """Settings as JSON with secrets in clear (for a child's environment only; never log it)."""
    return json.dumps(_reveal(settings.model_dump()), default=str)


def settings_from_env() -> tuple[Settings, list[str]]:
    """The settings and sources a parent handed to this worker."""
    data = json.loads(os.environ[SETTINGS_ENV])
    return Settings.model_validate(data), list(json.loads(os.environ[SOURCES_ENV]))


#: Seconds the other workers get to stop after one failed, before they are killed.
STOP_GRACE_S = 30.0


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def run_cluster(settings: Settings, sources: list[str], processes: int, worker: list[str]) -> int:
    """Start ``processes`` workers, wait for them; returns the exit code for the parent.

    ``worker`` is the command of one worker (``scout worker``), to which ``--addresses`` and
    ``--process-id`` are added."""
    addresses = ",".join(f"127.0.0.1:{p}" for p in free_ports(processes))
    env = {**os.environ, SETTINGS_ENV: settings_json(settings), SOURCES_ENV: json.dumps(sources),
           PARENT_PID_ENV: str(os.getpid())}  # fmt: skip
    cmd = [*worker, "--addresses", addresses, "--process-id"]
    workers = [subprocess.Popen([*cmd, str(i)], env=env) for i in range(processes)]
    log.info("cluster started", processes=processes, addresses=addresses)

    def forward(signum: int, frame: FrameType | None) -> None:
        for w in workers:
            if w.poll() is None:
                w.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        codes: dict[int, int] = {}
        kill_at: float | None = None
        while len(codes) < len(workers):
            for i, w in enumerate(workers):
                if i not in codes and (code := w.poll()) is not None:
                    codes[i] = code
                    if code != 0 and kill_at is None:  # one worker failed: the cluster cannot finish
                        forward(signal.SIGTERM, None)
                        kill_at = time.monotonic() + STOP_GRACE_S
            if kill_at is not None and time.monotonic() > kill_at:  # a worker that ignores SIGTERM (one
                forward(signal.SIGKILL, None)  # still waiting for its peers to connect) must not hang the run
                kill_at = float("inf")
            time.sleep(0.1)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    failed = [c for c in codes.values() if c != 0]
    return failed[0] if failed else 0
