"""The dataflow as a module attribute, for ``python -m bytewax.run dataflows.entrypoint:flow``.

What Kubernetes runs (a StatefulSet of Bytewax processes, ``-i``/``-a`` or ``BYTEWAX_*``
addresses). Settings come from the environment and the config file as for ``scout``; the input
from ``SCOUT_SOURCE`` (``kafka://…`` or ``file:PATH``). Building the flow opens nothing: no
client, no consumer, no progress callback is captured at import; the warehouse is opened by
the sink partition that writes (one writer for chDB, ``SCOUT_WRITERS`` against a server, which
should equal the cluster's worker count). Migrations are applied beforehand (``scout db migrate``,
a Helm hook). In a pod (``BYTEWAX_POD_NAME`` and ``recovery_dir`` set) the recovery store is
prepared first, at every start of the container (:func:`~dataflows.runner.prepare_pod_recovery`).
With ``SCOUT_METRICS_PORT`` set, the process serves ``/metrics``, ``/livez`` and ``/readyz`` there
(:mod:`dataflows.health`; ``SCOUT_METRICS_HOST=0.0.0.0`` for a kubelet's probes).
SIGTERM (a pod's end) stops the sources as in ``scout run`` (:mod:`dataflows.sources.stop`): the last
epoch is written and snapshotted and the process exits 0; without that handler, Python died at once.
The warehouse client the writing partition opens is closed at exit on the main thread: left to its
finalizer on Bytewax's worker thread, an embedded chDB's close hung and the process never ended.
"""

from __future__ import annotations

import atexit
import os
from typing import Any

import structlog

from dataflows.config import load_settings
from dataflows.metrics import serve_metrics
from dataflows.runner import build_source, clickhouse_sink, make_flow, prepare_pod_recovery, watch_health
from dataflows.sources import stop

log = structlog.get_logger("scout.entrypoint")
_settings = load_settings()
stop.install()  # bytewax.run imports this module on its main thread, where signal handlers go
if (_pod := os.environ.get("BYTEWAX_POD_NAME")) and _settings.recovery_dir is not None:
    # at every start of the container, not in an init container: a kubelet restarting a container
    # (a failed liveness probe, an OOM kill) does not run the pod's init containers again
    log.info(prepare_pod_recovery(_settings, _pod))
_source = os.environ.get("SCOUT_SOURCE", "kafka://127.0.0.1:9092")
if _settings.metrics_port:
    serve_metrics(_settings.metrics_port, _settings.metrics_host)
    watch_health(_settings, [_source])
_opened: list[Any] = []  # the warehouse client this process opens (held here, closed at exit)
atexit.register(lambda: [client.close() for client in _opened])
flow = make_flow(
    _settings,
    build_source(_settings, [_source]),
    None,
    sink=clickhouse_sink(_settings, None, None, workers=int(os.environ.get("SCOUT_WRITERS", "1")), opened=_opened),
)
