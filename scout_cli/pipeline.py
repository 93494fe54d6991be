"""The pipeline commands: ``scout simulate``, ``run``, ``worker`` (hidden), ``replay``, ``demo``, ``summary``.

The work is library code (:mod:`dataflows.pipeline`, :mod:`dataflows.replay`,
:mod:`dataflows.cluster`); these commands read flags, draw progress and print.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dataflows.errors import Exit, UsageError
from dataflows.timegrid import DAY_MS
from scout_cli.common import (
    SinkOpt,
    bar_for,
    client,
    configure_logging,
    console,
    fail,
    handled,
    log,
    progress,
    settings,
    stages_table,
)
from scout_contract.records import TIMESTAMP_MS_MAX

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from dataflows.config import Settings
    from dataflows.replay import ReplayProgress

app = typer.Typer()

Count = Annotated[int, typer.Option(min=0)]
Rate = Annotated[float, typer.Option(min=0.0, max=1.0, help="A share of records, 0..1")]


@app.command()
def simulate(
    out: Annotated[Path | None, typer.Option(help="Topic file to write (JSON lines, SPEC §2 file form)")] = None,
    kafka: Annotated[
        str | None, typer.Option("--kafka", help="Produce to these brokers (HOST:PORT[,HOST:PORT]) instead")
    ] = None,
    stores: Annotated[int, typer.Option(min=1)] = 4,
    devices: Annotated[int, typer.Option(min=1, help="Devices per store")] = 2,
    hours: Annotated[float, typer.Option(min=0.0)] = 2.0,
    seed: int = 7,
    customers_per_hour: Annotated[float, typer.Option(min=0.0)] = 20.0,
    fps: Annotated[float, typer.Option(min=0.0)] = 1.0,
    malformed_rate: Rate = 0.002,
    duplicate_rate: Rate = 0.005,
    out_of_order_rate: Rate = 0.02,
    late_rate: Rate = 0.001,
    silent_devices: Count = 1,
) -> None:
    """Simulate stores and write their events as a topic file, or produce them to Kafka.

    To Kafka, every record goes to its topic and partition with its record timestamp (the
    simulated arrival time); topics are created (kafka.partitions each, retention.ms=-1)
    when missing. Torn lines (a file-form artefact) are not produced.
    """
    from dataflows.simulator import BROKEN_ENVELOPE, SimConfig, write_topic_file
    from dataflows.simulator import simulate as run_sim

    if (out is None) == (kafka is None):
        raise fail(Exit.USAGE, "error", "give either --out FILE or --kafka BROKERS")
    s = settings()
    topics = s.topics
    cfg = SimConfig(
        stores=stores, devices_per_store=devices, hours=hours, seed=seed,
        customers_per_hour=customers_per_hour,
        fps=fps, malformed_rate=malformed_rate, duplicate_rate=duplicate_rate,
        out_of_order_rate=out_of_order_rate, late_rate=late_rate, silent_devices=silent_devices,
        partitions=s.kafka.partitions,
        topics=topics.of_streams(),
    )  # fmt: skip
    expected = int(stores * devices * hours * 1500)
    with handled(), progress("records") as bar:
        task = bar.add_task("simulating" if out else f"producing to {kafka}", total=expected)
        if out is not None:
            n = write_topic_file(run_sim(cfg), out, lambda k: bar.advance(task, k))
            where = str(out)
        else:
            from dataflows.sources.kafka import produce_records

            records = (r for r in run_sim(cfg) if r.topic != BROKEN_ENVELOPE)
            conf = s.kafka.librdkafka(str(kafka))
            n = produce_records(conf, records, cfg.partitions, topics.input_topics(), lambda k: bar.advance(task, k))
            where = f"Kafka {kafka}"
        bar.update(task, total=n, completed=n)
    console.print(f"wrote {n:,} records to {where}")


#: ``--engine``: which stages run (``Settings.engine``)
EngineOpt = Annotated[
    str | None, typer.Option(help="rows (default), or columnar: Arrow batches through the compiled core (#21)")
]


@app.command()
def run(
    source: Annotated[
        list[str], typer.Option("--source", help="file:PATH (repeatable), or kafka://HOST:PORT[,HOST:PORT]")
    ],
    sink: SinkOpt = None,
    rules: Annotated[Path | None, typer.Option(help="Quality rules file (YAML)")] = None,
    batch_size: int | None = None,
    recovery_dir: Annotated[Path | None, typer.Option(help="Bytewax recovery directory")] = None,
    metrics_port: Annotated[int | None, typer.Option(help="Serve Prometheus metrics on this port")] = None,
    annotated_out: Annotated[Path | None, typer.Option(help="Publish annotated events to this topic file")] = None,
    summary: Annotated[bool, typer.Option(help="Print the summary at the end")] = True,
    close_sessions_at_end: Annotated[
        bool | None,
        typer.Option(
            "--close-sessions-at-end/--keep-sessions-open",
            help="At the end of input, close open sessions (default without --recovery-dir) or keep them "
            "for a resumed run (default with it)",
        ),
    ] = None,
    stop_at_end: Annotated[
        bool | None,
        typer.Option("--stop-at-end/--follow", help="Kafka: end at the offsets current at start, or tail (default)"),
    ] = None,
    processes: Annotated[
        int, typer.Option(min=1, max=64, help="Worker processes of one Bytewax cluster on this machine")
    ] = 1,
    topics: Annotated[
        list[str] | None, typer.Option("--topics", help="STREAM=TOPIC (repeatable): input topic names")
    ] = None,
    group: Annotated[
        str | None, typer.Option("--group", help="Kafka consumer group that progress is committed to (for lag)")
    ] = None,
    engine: EngineOpt = None,
) -> None:
    """Run the dataflow from topic files or Kafka into ClickHouse (bronze → silver → gold).

    A Kafka source tails its topics until stopped (SIGINT/SIGTERM), unless --stop-at-end.
    With --processes N the source partitions are spread over N processes (dataflows/cluster.py).
    """
    from dataflows.pipeline import Stages, run_pipeline
    from dataflows.summary import print_summary

    s = settings(sink=sink, rules_file=rules, batch_size=batch_size, recovery_dir=recovery_dir,
                 metrics_port=metrics_port, annotated_out=annotated_out,
                 close_sessions_at_end=close_sessions_at_end, stop_at_end=stop_at_end,
                 kafka_group=group, engine=engine)  # fmt: skip
    if topics:
        s = s.model_copy(update={"topics": s.topics.model_copy(update=_topic_flags(topics))})
    if processes > 1:
        _run_cluster(s, source, processes)
        if summary:
            with handled():
                print_summary(client(s), console)
        return
    stages = Stages()
    with handled():
        run_pipeline(s, source, bar_for("bronze → silver → gold"), stages)
        if summary:  # the writer process has ended: the warehouse is this process's now
            with stages.stage("summary"):
                print_summary(client(s), console)
    if summary:
        console.print(stages_table(stages))


def _run_cluster(s: Settings, source: list[str], processes: int) -> None:
    from dataflows.cluster import run_cluster
    from dataflows.runner import is_broker, parse_source, prepare_recovery

    with handled():
        for spec in source:
            if not is_broker(spec):
                parse_source(spec)  # a missing file is a usage error before anything starts
        if s.recovery_partitions < processes:
            raise UsageError(f"recovery_partitions ({s.recovery_partitions}) must be at least --processes")
        migrated = subprocess.run([sys.executable, "-m", "scout_cli", "db", "migrate", "--sink", s.sink],
                                  capture_output=True, text=True, check=False)  # fmt: skip
        if migrated.returncode != 0:
            sys.stderr.write(migrated.stderr)
            raise typer.Exit(migrated.returncode)
        prepare_recovery(s)  # before any worker reads the store
        code = run_cluster(s, source, processes, [sys.executable, "-m", "scout_cli", "worker"])
    if code != 0:
        raise typer.Exit(code)
    log.info("cluster finished", processes=processes)


def _topic_flags(values: list[str]) -> dict[str, str]:
    from scout_contract.streams import NAMES

    out = {}
    for value in values:
        stream, sep, topic = value.partition("=")
        if not sep or stream not in NAMES or not topic:
            raise fail(Exit.USAGE, "error", f"--topics {value!r}: expected STREAM=TOPIC with STREAM one of {NAMES}")
        out[stream] = topic
    return out


@app.command(hidden=True)
def worker(
    process_id: Annotated[int, typer.Option("--process-id")],
    addresses: Annotated[str, typer.Option("--addresses")],
) -> None:
    """One process of a --processes N cluster (started by scout run; settings from its parent)."""
    from dataflows.cluster import settings_from_env
    from dataflows.lifeline import die_with_parent, parent_pid_from_env
    from dataflows.metrics import serve_metrics
    from dataflows.runner import RunStats, build_source, clickhouse_sink, make_flow, run_flow, watch_health

    die_with_parent(parent_pid_from_env())
    s, sources = settings_from_env()
    configure_logging(s.log_level)
    peers = addresses.split(",")
    stats = RunStats()
    with handled():
        if s.metrics_port:
            serve_metrics(s.metrics_port + process_id, s.metrics_host)
        watch_health(s, sources)  # the parent migrated the warehouse
        opened: list[Any] = []  # the warehouse client this worker opens, closed here on the main thread
        sink = clickhouse_sink(s, None, stats.on_write, workers=len(peers), opened=opened)
        try:
            run_flow(make_flow(s, build_source(s, sources), None, sink=sink), s, process_id, peers)
        finally:
            for client in opened:
                client.close()
    log.info("worker finished", process_id=process_id, rows=stats.rows)


def _instant(text: str, flag: str) -> int:
    """An RFC 3339 / ISO 8601 time with its zone → ms since the epoch."""
    from datetime import datetime

    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise UsageError(f"{flag} {text!r} is not an ISO 8601 time (e.g. 2025-05-19T08:00:00+08:00)") from exc
    if moment.tzinfo is None:
        raise UsageError(f"{flag} {text!r} needs a time zone (e.g. +08:00 or Z)")
    ms = int(moment.timestamp() * 1000)
    # a replay widens its range by days and a lead on both sides: keep that inside what a record carries
    if not DAY_MS <= ms <= TIMESTAMP_MS_MAX - 2 * DAY_MS:
        raise UsageError(f"{flag} {text!r} is outside the times a record can carry (1970-01-02 to 2299-12-29)")
    return ms


@app.command()
def replay(
    since: Annotated[str, typer.Option(help="Start of the range to rebuild (ISO 8601 with zone)")],
    until: Annotated[str, typer.Option(help="End of the range to rebuild (ISO 8601 with zone)")],
    source: Annotated[str | None, typer.Option("--source", help="kafka://HOST:PORT[,HOST:PORT]")] = None,
    from_bronze: Annotated[
        bool, typer.Option("--from-bronze", help="Re-read bronze (event-time order) instead of the topics")
    ] = False,
    sink: SinkOpt = None,
    lead_h: Annotated[float, typer.Option(min=0.0, help="Hours read before the range to rebuild state")] = 1.0,
    batch_size: int | None = None,
    engine: EngineOpt = None,
) -> None:
    """Rebuild every table for whole days around [since, until) (docs/architecture.md, "Replay").

    From the topics (--source kafka://…): each partition is read from the offsets of the read
    range (offsets_for_times) and the live result is reproduced. From bronze
    (--from-bronze, when retention has passed): every accepted event in event-time order,
    late ones included, so late data is reconciled into its windows. Either way the same dataflow
    runs from a fresh state and writes only the rows of whole windows inside the widened range.
    """
    from datetime import UTC, datetime

    from dataflows.replay import plan_replay, run_replay

    s = settings(sink=sink, batch_size=batch_size, engine=engine)
    with handled():
        try:
            plan = plan_replay(_instant(since, "--since"), _instant(until, "--until"), s.windows(),
                               int(lead_h * 3_600_000))  # fmt: skip
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
        if (source is None) == (not from_bronze):
            raise UsageError("give either --source kafka://… or --from-bronze")
        days = [datetime.fromtimestamp(t / 1000, UTC).isoformat() for t in (plan.write_start, plan.write_end)]
        with progress("records") as bar:
            stats = run_replay(s, plan, source, _replay_bars(bar, days))
        log.info("replay finished", rows=stats.rows, write_start=days[0], write_end=days[1])
        console.print(f"replayed: {sum(stats.rows.values()):,} rows written for [{days[0]}, {days[1]})")


def _replay_bars(bar: Progress, days: list[str]) -> ReplayProgress:
    """The replay's progress drawn as one bar, and one per partition number."""
    from dataflows.replay import ReplayProgress

    class Bars(ReplayProgress):
        def __init__(self) -> None:
            self.task = bar.add_task("replay", total=None)
            self.parts: dict[int, TaskID] = {}

        def started(self, total: int, origin: str, per_partition: dict[int, int]) -> None:
            self.parts = {n: bar.add_task(f"  partition {n}", total=t) for n, t in per_partition.items()}
            bar.update(self.task, total=total)
            console.print(f"rebuilding [{days[0]}, {days[1]}) from {total:,} records ({origin})")

        def advance(self, records: int) -> None:
            bar.advance(self.task, records)

        def advance_partition(self, number: int, records: int) -> None:
            bar.advance(self.parts[number], records)

    return Bars()


@app.command()
def summary(sink: SinkOpt = None) -> None:
    """Print rows per layer, quarantine reasons, interactions, health, brands."""
    from dataflows.summary import print_summary

    s = settings(sink=sink)
    with handled():
        print_summary(client(s), console)


@app.command()
def demo(
    workdir: Annotated[Path, typer.Option(help="Where the demo writes its files")] = Path(".scout"),
    stores: int = 4,
    devices: int = 2,
    hours: Annotated[float, typer.Option(help="Hours simulated from 08:00 in Manila: a store day")] = 14.0,
    seed: int = 7,
) -> None:
    """Simulate stores → run the dataflow into embedded chDB → print a summary and draw the dashboards."""
    import shutil

    from dataflows.pipeline import Stages, run_pipeline
    from dataflows.simulator import SimConfig, write_topic_file
    from dataflows.simulator import simulate as run_sim
    from dataflows.summary import print_summary
    from grafana.preview import render

    stages = Stages()
    ch_dir = workdir / "ch"
    if ch_dir.exists():
        shutil.rmtree(ch_dir)  # a demo starts from an empty warehouse
    events = workdir / "events.jsonl"
    cfg = SimConfig(stores=stores, devices_per_store=devices, hours=hours, seed=seed)
    with stages.stage("simulate") as st, progress("records") as bar:
        task = bar.add_task("simulating stores", total=int(stores * devices * hours * 1500))
        n = write_topic_file(run_sim(cfg), events, lambda k: bar.advance(task, k))
        bar.update(task, total=n, completed=n)
        st["detail"] = f"{n:,} records, {stores} stores × {devices} devices × {hours:g} h"
    s = settings(sink=f"chdb://{ch_dir.resolve()}")
    preview = workdir / "dashboards.html"
    with handled():
        run_pipeline(s, [f"file:{events}"], bar_for("bronze → silver → gold"), stages)
        warehouse = client(s)  # the writer process has ended: the warehouse is this process's now
        with stages.stage("summary"):
            print_summary(warehouse, console)
        with stages.stage("preview") as st:
            report = render(warehouse, preview, s.sink)
            st["detail"] = f"{len(report.drawn)} panels drawn, {len(report.failed)} failed"
    console.print(stages_table(stages))
    console.print(f"Dashboards preview (open in a browser): {preview.resolve()}")
