"""One run of the dataflow in this process: sources checked, warehouse migrated, flow run to its end.

What ``scout run`` (one process), ``scout demo`` and ``bench/pipeline.py`` call. The
caller decides how progress is shown (:data:`ProgressBar`) and may time the stages
(:class:`Stages`); printing a summary or a dashboards preview is the caller's too.

With ``sink_writer = "process"`` (the default) a
:class:`~dataflows.sinks.writer.ProcessWriter` owns the warehouse for the run and
applies the migrations; with ``"inline"`` this process migrates and writes. The
warehouse is free again for this process when :func:`run_pipeline` returns.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field

import structlog

from dataflows.config import Settings
from dataflows.metrics import serve_metrics
from dataflows.runner import (
    RunStats,
    build_source,
    client_spec,
    is_broker,
    make_flow,
    parse_source,
    run_flow,
    watch_health,
)
from dataflows.sinks.writer import ProcessWriter
from dataflows.sources.stop import stopped_by
from dataflows.warehouse import migrate

log = structlog.get_logger(__name__)

#: ``(unit, total)`` → a context that yields the callback to advance by a count. ``unit`` is
#: ``"bytes"`` for topic files (total: their size) and ``"records"`` for a broker (total unknown).
ProgressBar = Callable[[str, int | None], AbstractContextManager[Callable[[int], None]]]


@dataclass
class Stages:
    """Wall time of each named stage: ``(name, seconds, detail)`` in order."""

    rows: list[tuple[str, float, str]] = field(default_factory=list)

    @contextmanager
    def stage(self, name: str, detail: str = "") -> Iterator[dict[str, str]]:
        """Time a stage; set ``["detail"]`` on what it yields to describe it."""
        t0 = time.perf_counter()
        holder = {"detail": detail}
        yield holder
        self.rows.append((name, time.perf_counter() - t0, holder["detail"]))


@contextmanager
def _no_progress(unit: str, total: int | None) -> Iterator[Callable[[int], None]]:
    yield lambda _k: None


def run_pipeline(
    s: Settings, sources: list[str], progress: ProgressBar = _no_progress, stages: Stages | None = None
) -> RunStats:
    """Run the dataflow from ``sources`` into the settings' warehouse; returns the rows written per table."""
    stages = stages or Stages()
    kafka = any(is_broker(x) for x in sources)
    paths = [] if kafka else [parse_source(x) for x in sources]  # checked before anything is created
    if s.metrics_port:
        serve_metrics(s.metrics_port, s.metrics_host)
    stats = RunStats()
    with ExitStack() as stack:
        writer = None
        client = None
        with stages.stage("migrate") as st:
            if s.sink_writer == "process":  # it owns the warehouse for the run, and migrates it
                spec = client_spec(s, create=True)
                writer = stack.enter_context(ProcessWriter(spec, stats.on_write, day_timezone=s.day_timezone))
                st["detail"] = "by the writer process"
            else:
                client = client_spec(s, create=True)()
                migrate(client, day_timezone=s.day_timezone)
        watch_health(s, sources)  # the probes, once the warehouse is migrated
        total = None if kafka else sum(p.stat().st_size for p in paths)
        with stages.stage("dataflow") as st, progress("records" if kafka else "bytes", total) as advance:
            source = build_source(s, sources, advance)
            run_flow(make_flow(s, source, client, stats.on_write, writer=writer), s)
            st["detail"] = f"{sum(stats.rows.values()):,} rows written"
    if writer is not None:
        stats.writer_peak_rss_mb = writer.peak_rss_mb
    if (signal_name := stopped_by()) is not None:
        log.info("dataflow stopped cleanly", signal=signal_name, rows=stats.rows)
    log.info("dataflow finished", rows=stats.rows)
    return stats
