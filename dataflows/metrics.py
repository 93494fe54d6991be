"""Prometheus metrics of the dataflow, and the probes' answers (served with ``scout run --metrics-port``)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import Counter, Histogram, make_wsgi_app

RECORDS_IN = Counter("scout_records_in_total", "Records read from a source", ["source"])
ACCEPTED = Counter("scout_events_accepted_total", "Events that passed the quality rules", ["stream"])
QUARANTINED = Counter("scout_records_quarantined_total", "Records sent to quarantine_events")
LATE = Counter("scout_events_late_total", "Events older than their key's watermark", ["stream"])
ROWS_WRITTEN = Counter("scout_rows_written_total", "Rows inserted into ClickHouse", ["table"])
INSERT_SECONDS = Histogram(
    "scout_insert_seconds",
    "Time of one ClickHouse insert",
    ["table"],
    buckets=(0.001, 0.005, 0.02, 0.1, 0.5, 2, 10),
)
BRONZE_VISIBLE = Histogram(
    "scout_bronze_visible_seconds",
    "From a record's timestamp (its arrival, for a broker stamping it) to its bronze row being queryable "
    "(its insert done, as the writer process timed it); every 8th bronze row",
    buckets=(0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 7.5, 10, 15, 20, 30, 60, 120),
)
GOLD_VISIBLE = Histogram(
    "scout_gold_visible_seconds",
    "From the oldest record timestamp of a batch that changed gold windows (the record that made a window "
    "closable is among them) to those gold rows being queryable (the writer's insert done); one per gold batch",
    buckets=(0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 7.5, 10, 15, 20, 30, 60, 120),
)
VALIDATE_SECONDS = Histogram(
    "scout_validate_batch_seconds",
    "Time to validate one source batch",
    buckets=(0.001, 0.01, 0.05, 0.2, 1, 5),
)


def serve_metrics(port: int, addr: str) -> WSGIServer:
    """Serve ``/metrics``, ``/livez`` and ``/readyz`` (:mod:`dataflows.health`) on ``addr:port`` from a
    thread; returns the server (a test shuts it down). A busy port is a usage error (exit 2)."""
    from dataflows.errors import UsageError

    try:
        server = make_server(addr, port, _app, _ThreadingServer, handler_class=_QuietHandler)
    except OSError as exc:
        raise UsageError(f"cannot serve metrics on {addr}:{port}: {exc.strerror}") from exc
    threading.Thread(target=server.serve_forever, name="scout-metrics", daemon=True).start()
    return server


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Probes every few seconds would fill the log."""


_PROMETHEUS = make_wsgi_app()


def _app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    path = environ.get("PATH_INFO", "")
    if path in ("/livez", "/readyz"):
        from dataflows import health

        if path == "/livez":
            ok, detail = health.HEALTH.live()
            body: dict[str, Any] = {"status": "ok" if ok else "failing", **detail}
        else:
            ok, checks = health.HEALTH.ready()
            body = {"status": "ok" if ok else "failing", "checks": checks}
        start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]
    return _PROMETHEUS(environ, start_response)  # type: ignore[no-any-return]
