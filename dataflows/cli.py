"""``scout``: one CLI for the cloud half (simulate, migrate, run, summarise).

Configuration precedence: flags > ``SCOUT_*`` environment > ``scout.toml``
(or ``SCOUT_CONFIG``) > defaults. Secrets are never printed.

Exit codes (also in the README): 0 done; 1 ``db verify`` found differences;
2 a usage or configuration error; 3 a quality rule with action ``fail``
stopped the dataflow; 4 the warehouse cannot be used (unreachable, not
migrated, locked by another process, refused a write); 5 the source cannot be
used (Kafka brokers unreachable, a topic missing); 6 Grafana refused or could
not be reached (``scout grafana push``); 130 interrupted.
Each error is one line on stderr, never a traceback.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import structlog
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from dataflows.config import Settings, load_settings

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from clickhouse_connect.driver.client import Client

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
db_app = typer.Typer(no_args_is_help=True, help="Warehouse schema.")
contract_app = typer.Typer(no_args_is_help=True, help="The event contract.")
grafana_app = typer.Typer(no_args_is_help=True, help="Grafana dashboards, provisioning, alerts and an offline preview.")
app.add_typer(db_app, name="db")
app.add_typer(contract_app, name="contract")
app.add_typer(grafana_app, name="grafana")
models_app = typer.Typer(no_args_is_help=True, help="Model bundles: keys, quantize, evaluate, sign, publish, promote.")
app.add_typer(models_app, name="models")
console = Console(width=None if sys.stdout.isatty() else 120)
errors = Console(stderr=True, width=None if sys.stderr.isatty() else 200)
log = structlog.get_logger("scout")


class Exit(IntEnum):
    """Process exit codes of ``scout`` (documented in the README)."""

    OK = 0
    DIFFERENT = 1
    USAGE = 2
    QUALITY_RULE = 3
    WAREHOUSE = 4
    SOURCE = 5
    GRAFANA = 6
    INTERRUPTED = 130


class UsageError(ValueError):
    """A flag or setting that cannot be used (exit 2)."""


def _cause(exc: BaseException, kinds: tuple[type[BaseException], ...]) -> BaseException | None:
    """The first error of ``kinds`` in an exception's chain (Bytewax wraps errors raised in steps)."""
    seen: BaseException | None = exc
    visited: set[int] = set()
    while seen is not None and id(seen) not in visited:
        if isinstance(seen, kinds):
            return seen
        visited.add(id(seen))
        seen = seen.__cause__ or seen.__context__
    return None


def _fail(code: Exit, label: str, message: object) -> typer.Exit:
    errors.print(f"[red]{label}:[/red] {message}", markup=True, highlight=False, soft_wrap=True)
    return typer.Exit(int(code))


@contextmanager
def _handled() -> Iterator[None]:
    """Turn every known failure into one line on stderr and its exit code."""
    from clickhouse_connect.driver.exceptions import ClickHouseError

    from dataflows.bronze.rules import RulesError
    from dataflows.bronze.validate import QualityRuleFailure
    from dataflows.runner import SourceError
    from dataflows.sources.eventhubs import EventHubsSourceError
    from dataflows.sources.file import RecoveryStateError
    from dataflows.sources.kafka import KafkaSourceError
    from dataflows.warehouse import WarehouseError

    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except KeyboardInterrupt as exc:
        raise _fail(Exit.INTERRUPTED, "interrupted", "stopped by the user") from exc
    except Exception as exc:
        if (found := _cause(exc, (QualityRuleFailure,))) is not None:
            raise _fail(Exit.QUALITY_RULE, "stopped by a quality rule", found) from exc
        if (found := _cause(exc, (WarehouseError,))) is not None:
            raise _fail(Exit.WAREHOUSE, "warehouse error", found) from exc
        if (found := _cause(exc, (UsageError, SourceError, RulesError, RecoveryStateError))) is not None:
            raise _fail(Exit.USAGE, "error", found) from exc
        if (found := _cause(exc, (KafkaSourceError, EventHubsSourceError))) is not None:
            raise _fail(Exit.SOURCE, "source error", found) from exc
        if (found := _cause(exc, (ClickHouseError,))) is not None:
            raise _fail(Exit.WAREHOUSE, "warehouse error", str(found).strip().splitlines()[0]) from exc
        raise


SinkOpt = Annotated[str | None, typer.Option("--sink", help="ClickHouse DSN (chdb:///path or http(s)://…)")]


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), stream=sys.stderr, format="%(message)s")
    if level.upper() != "DEBUG":
        # The drivers log each failed attempt; our one-line error says what failed and where.
        for name in ("clickhouse_connect", "urllib3"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )


def _settings(**flags: object) -> Settings:
    try:
        s = load_settings(**flags)
    except Exception as exc:  # pydantic ValidationError, TOML errors, unreadable secret file, missing SCOUT_CONFIG
        raise _fail(Exit.USAGE, "configuration error", exc) from exc
    _configure_logging(s.log_level)
    return s


def _client(s: Settings, create: bool = False, migrated: bool = True) -> Client:
    """A warehouse client; ``create`` for commands that write, ``migrated`` to require the schema."""
    from dataflows.warehouse import connect, require_schema

    password = s.clickhouse_password.get_secret_value() if s.clickhouse_password else None
    client = connect(s.sink, s.clickhouse_user, password, s.connect_options(), create=create)
    if migrated:
        require_schema(client, s.sink)
    return client


@dataclass
class _Timings:
    rows: list[tuple[str, float, str]]

    @contextmanager
    def stage(self, name: str, detail: str = "") -> Iterator[dict[str, str]]:
        t0 = time.perf_counter()
        holder = {"detail": detail}
        yield holder
        self.rows.append((name, time.perf_counter() - t0, holder["detail"]))

    def table(self) -> Table:
        t = Table(title="Stages", title_justify="left", header_style="bold cyan")
        t.add_column("stage")
        t.add_column("seconds", justify="right")
        t.add_column("detail")
        for name, secs, detail in self.rows:
            t.add_row(name, f"{secs:.2f}", detail)
        return t


def _progress(unit: str = "bytes") -> Progress:
    """A progress bar; ``bytes`` shows MB/s (reading files), else a count of ``unit``."""
    speed = TransferSpeedColumn() if unit == "bytes" else TextColumn("{task.completed:,.0f} " + unit)
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        speed,
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


# -- commands ------------------------------------------------------------------


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
    simulated arrival time); topics are created (``kafka.partitions`` each, ``retention.ms=-1``)
    when missing. Torn lines (a file-form artefact) are not produced.
    """
    from dataflows.simulator import BROKEN_ENVELOPE, SimConfig, write_topic_file
    from dataflows.simulator import simulate as run_sim

    if (out is None) == (kafka is None):
        raise _fail(Exit.USAGE, "error", "give either --out FILE or --kafka BROKERS")
    s = _settings()
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
    with _handled(), _progress("records") as bar:
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


@db_app.command("migrate")
def db_migrate(sink: SinkOpt = None) -> None:
    """Apply the numbered migrations in clickhouse/migrations (idempotent)."""
    from dataflows.warehouse import migrate

    s = _settings(sink=sink)
    with _handled():
        applied = migrate(_client(s, create=True, migrated=False))
    console.print(f"migrations applied: {', '.join(applied) if applied else 'none (schema up to date)'}")


@db_app.command("verify")
def db_verify(
    sink: SinkOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Recompute silver sessions and gold tables from bronze; compare with the streamed ones."""
    from dataflows.verify import verify

    s = _settings(sink=sink)
    with _handled():
        checks = verify(_client(s), s.windows())
    if as_json:
        report = [
            {"table": c.table, "ok": c.ok, "expected_rows": c.expected_rows, "actual_rows": c.actual_rows,
             "missing": len(c.missing), "unexpected": len(c.unexpected), "different": len(c.different),
             "examples": [repr(d) for d in c.different[:5]]}
            for c in checks
        ]  # fmt: skip
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        t = Table(title="Streamed vs recomputed from bronze", title_justify="left", header_style="bold cyan")
        for h in (
            "table",
            "recomputed rows",
            "streamed rows",
            "missing",
            "unexpected",
            "different",
            "result",
        ):
            t.add_column(h)
        for c in checks:
            verdict = "[green]equal[/green]" if c.ok else "[red]DIFFERENT[/red]"
            counts = (c.expected_rows, c.actual_rows, len(c.missing), len(c.unexpected), len(c.different))
            t.add_row(c.table, *map(str, counts), verdict)
        console.print(t)
    if not all(c.ok for c in checks):
        raise typer.Exit(int(Exit.DIFFERENT))


@db_app.command("query")
def db_query(sql: str, sink: SinkOpt = None) -> None:
    """Run one read query and print its rows as JSON lines (for scripts and tests).

    The query runs with ClickHouse's ``readonly = 1``: the server refuses DDL,
    DML and setting changes, whatever the SQL says.
    """
    s = _settings(sink=sink)
    with _handled():
        result = _client(s).query(sql, settings={"readonly": 1})
    for row in result.result_rows:
        sys.stdout.write(json.dumps(dict(zip(result.column_names, row, strict=True)), default=str) + "\n")


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
) -> None:
    """Run the dataflow from topic files or Kafka into ClickHouse (bronze → silver → gold).

    A Kafka source tails its topics until stopped (SIGINT/SIGTERM), unless ``--stop-at-end``.
    With ``--processes N`` the source partitions are spread over N processes (dataflows/cluster.py).
    """
    s = _settings(sink=sink, rules_file=rules, batch_size=batch_size, recovery_dir=recovery_dir,
                  metrics_port=metrics_port, annotated_out=annotated_out,
                  close_sessions_at_end=close_sessions_at_end, stop_at_end=stop_at_end,
                  kafka_group=group)  # fmt: skip
    if topics:
        s = s.model_copy(update={"topics": s.topics.model_copy(update=_topic_flags(topics))})
    if processes == 1:
        _run(s, source, summary)
        return
    from dataflows.cluster import run_cluster
    from dataflows.runner import is_broker, parse_source

    with _handled():
        for spec in source:
            if not is_broker(spec):
                parse_source(spec)  # a missing file is a usage error before anything starts
        if s.recovery_partitions < processes:
            raise UsageError(f"recovery_partitions ({s.recovery_partitions}) must be at least --processes")
        migrated = subprocess.run([sys.executable, "-m", "dataflows.cli", "db", "migrate", "--sink", s.sink],
                                  capture_output=True, text=True, check=False)  # fmt: skip
        if migrated.returncode != 0:
            sys.stderr.write(migrated.stderr)
            raise typer.Exit(migrated.returncode)
        code = run_cluster(s, source, processes)
    if code != 0:
        raise typer.Exit(code)
    log.info("cluster finished", processes=processes)
    if summary:
        from dataflows.summary import print_summary

        with _handled():
            print_summary(_client(s), console)


def _topic_flags(values: list[str]) -> dict[str, str]:
    from scout_contract.streams import NAMES

    out = {}
    for value in values:
        stream, sep, topic = value.partition("=")
        if not sep or stream not in NAMES or not topic:
            raise _fail(Exit.USAGE, "error", f"--topics {value!r}: expected STREAM=TOPIC with STREAM one of {NAMES}")
        out[stream] = topic
    return out


@app.command(hidden=True)
def worker(
    process_id: Annotated[int, typer.Option("--process-id")],
    addresses: Annotated[str, typer.Option("--addresses")],
) -> None:
    """One process of a ``--processes N`` cluster (started by ``scout run``; settings from its parent)."""
    from dataflows.cluster import settings_from_env
    from dataflows.runner import RunStats, build_source, clickhouse_sink, make_flow, run_flow

    s, sources = settings_from_env()
    _configure_logging(s.log_level)
    peers = addresses.split(",")
    stats = RunStats()
    with _handled():
        if s.metrics_port:
            _serve_metrics(s.metrics_port + process_id, s.metrics_host)
        sink = clickhouse_sink(s, None, stats.on_write, workers=len(peers))
        run_flow(make_flow(s, build_source(s, sources), None, sink=sink), s, process_id, peers)
    log.info("worker finished", process_id=process_id, rows=stats.rows)


def _serve_metrics(port: int, addr: str) -> None:
    from prometheus_client import start_http_server

    try:
        start_http_server(port, addr=addr)
    except OSError as exc:
        raise UsageError(f"cannot serve metrics on {addr}:{port}: {exc.strerror}") from exc


def _run(
    s: Settings, sources: list[str], summary: bool, timings: _Timings | None = None, preview: Path | None = None
) -> None:
    from dataflows.runner import RunStats, build_source, client_spec, is_broker, make_flow, parse_source, run_flow
    from dataflows.sinks.writer import ProcessWriter
    from dataflows.summary import print_summary
    from dataflows.warehouse import migrate

    timings = timings or _Timings([])
    with _handled():
        kafka = any(is_broker(x) for x in sources)
        paths = [] if kafka else [parse_source(x) for x in sources]  # checked before anything is created
        if s.metrics_port:
            _serve_metrics(s.metrics_port, s.metrics_host)
        stats = RunStats()
        client = None
        with ExitStack() as stack:
            writer = None
            with timings.stage("migrate") as st:
                if s.sink_writer == "process":  # it owns the warehouse for the run, and migrates it
                    writer = stack.enter_context(ProcessWriter(client_spec(s, create=True), stats.on_write))
                    st["detail"] = "by the writer process"
                else:
                    client = _client(s, create=True, migrated=False)
                    migrate(client)
            total = None if kafka else sum(p.stat().st_size for p in paths)
            with timings.stage("dataflow") as st, _progress("records" if kafka else "bytes") as bar:
                task = bar.add_task("bronze → silver → gold", total=total)
                source = build_source(s, sources, lambda k: bar.advance(task, k))
                run_flow(make_flow(s, source, client, stats.on_write, writer=writer), s)
                st["detail"] = f"{sum(stats.rows.values()):,} rows written"
        if client is None and (summary or preview is not None):
            client = _client(s)  # the writer process has ended: the warehouse is this process's now
        from dataflows.sources.stop import stopped_by

        if (signal_name := stopped_by()) is not None:
            log.info("dataflow stopped cleanly", signal=signal_name, rows=stats.rows)
        log.info("dataflow finished", rows=stats.rows)
        if summary:
            assert client is not None
            with timings.stage("summary"):
                print_summary(client, console)
        if preview is not None:
            from grafana.preview import render

            assert client is not None

            with timings.stage("preview") as st:
                report = render(client, preview, s.sink)
                st["detail"] = f"{len(report.drawn)} panels drawn, {len(report.failed)} failed"
        if summary:
            console.print(timings.table())
        if preview is not None:
            console.print(f"Dashboards preview (open in a browser): {preview.resolve()}")


def _instant(text: str, flag: str) -> int:
    """An RFC 3339 / ISO 8601 time with its zone → ms since the epoch."""
    from datetime import datetime

    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise UsageError(f"{flag} {text!r} is not an ISO 8601 time (e.g. 2025-05-19T08:00:00+08:00)") from exc
    if moment.tzinfo is None:
        raise UsageError(f"{flag} {text!r} needs a time zone (e.g. +08:00 or Z)")
    return int(moment.timestamp() * 1000)


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
) -> None:
    """Rebuild every table for whole days around [since, until) (docs/architecture.md, "Replay").

    From the topics (``--source kafka://…``): each partition is read from the offsets of the read
    range (``offsets_for_times``) and the live result is reproduced. From bronze
    (``--from-bronze``, when retention has passed): every accepted event in event-time order,
    late ones included, so late data is reconciled into its windows. Either way the same dataflow
    runs from a fresh state and writes only the rows of whole windows inside the widened range.
    """
    from datetime import UTC, datetime

    from bytewax.inputs import Source

    from dataflows.replay import clear_write_range, partition_offsets, plan_replay
    from dataflows.runner import RunStats, make_flow, run_flow
    from dataflows.sources.bronze import BronzeSource
    from dataflows.sources.kafka import KafkaSource, parse_bootstrap
    from dataflows.warehouse import migrate
    from scout_contract import SourceRecord

    base = _settings(sink=sink, batch_size=batch_size)
    # a replay is one bounded run from a fresh state: no recovery store, sessions closed at its end
    s = base.model_copy(update={"recovery_dir": None, "close_sessions_at_end": True, "stop_at_end": True})
    with _handled():
        try:
            plan = plan_replay(_instant(since, "--since"), _instant(until, "--until"), s.windows(),
                               int(lead_h * 3_600_000))  # fmt: skip
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
        if (source is None) == (not from_bronze):
            raise UsageError("give either --source kafka://… or --from-bronze")
        days = [datetime.fromtimestamp(t / 1000, UTC).isoformat() for t in (plan.write_start, plan.write_end)]
        stats = RunStats()
        with _progress("records") as bar:
            task = bar.add_task("replay", total=None)
            advance: Callable[[int], None] = lambda k: bar.advance(task, k)  # noqa: E731
            reader: Source[list[SourceRecord]]
            if source is not None:
                conf = s.kafka.librdkafka(parse_bootstrap(source))
                topics = s.topics.input_topics()
                starts, ends = partition_offsets(conf, topics, plan)
                total = sum(max(0, ends[k] - starts[k]) for k in ends)
                per_number: dict[int, int] = {}
                for (_topic, number), end in ends.items():
                    per_number[number] = per_number.get(number, 0) + max(0, end - starts[(_topic, number)])
                tasks = {n: bar.add_task(f"  partition {n}", total=t) for n, t in sorted(per_number.items())}
                reader = KafkaSource(conf, topics, s.batch_size, starts=starts, ends=ends, progress=advance,
                                     part_progress=lambda n, k: bar.advance(tasks[n], k))  # fmt: skip
                origin = f"{len(ends)} partitions"
                client = _client(s, create=True, migrated=False)
                migrate(client)
            else:
                client = _client(s)  # bronze must exist
                migrate(client)
                bronze = BronzeSource(client, plan.read_start, plan.read_end, advance)
                total, reader, origin = bronze.count(), bronze, "bronze"
            bar.update(task, total=total)
            console.print(f"rebuilding [{days[0]}, {days[1]}) from {total:,} records ({origin})")
            clear_write_range(client, plan)
            run_flow(make_flow(s, reader, client, stats.on_write, replay=plan), s)
        log.info("replay finished", rows=stats.rows, write_start=days[0], write_end=days[1])
        console.print(f"replayed: {sum(stats.rows.values()):,} rows written for [{days[0]}, {days[1]})")


@app.command()
def summary(sink: SinkOpt = None) -> None:
    """Print rows per layer, quarantine reasons, interactions, health, brands."""
    from dataflows.summary import print_summary

    s = _settings(sink=sink)
    with _handled():
        print_summary(_client(s), console)


@app.command()
def demo(
    workdir: Annotated[Path, typer.Option(help="Where the demo writes its files")] = Path(".scout"),
    stores: int = 4,
    devices: int = 2,
    hours: float = 2.0,
    seed: int = 7,
) -> None:
    """Simulate stores → run the dataflow into embedded chDB → print a summary."""
    import shutil

    from dataflows.simulator import SimConfig, write_topic_file
    from dataflows.simulator import simulate as run_sim

    timings = _Timings([])
    ch_dir = workdir / "ch"
    if ch_dir.exists():
        shutil.rmtree(ch_dir)  # a demo starts from an empty warehouse
    events = workdir / "events.jsonl"
    cfg = SimConfig(stores=stores, devices_per_store=devices, hours=hours, seed=seed)
    with timings.stage("simulate") as st, _progress("records") as bar:
        task = bar.add_task("simulating stores", total=int(stores * devices * hours * 1500))
        n = write_topic_file(run_sim(cfg), events, lambda k: bar.advance(task, k))
        bar.update(task, total=n, completed=n)
        st["detail"] = f"{n:,} records, {stores} stores × {devices} devices × {hours:g} h"
    s = _settings(sink=f"chdb://{ch_dir.resolve()}")
    _run(s, [f"file:{events}"], summary=True, timings=timings, preview=workdir / "dashboards.html")


ChHost = Annotated[str, typer.Option(help="ClickHouse host as Grafana reaches it")]
ChPort = Annotated[int, typer.Option(help="ClickHouse port as Grafana reaches it")]
ChProtocol = Annotated[str, typer.Option(help="The plugin's protocol: http or native")]
ChSecure = Annotated[bool, typer.Option(help="TLS from Grafana to ClickHouse")]


@grafana_app.command("build")
def grafana_build(
    out: Annotated[Path, typer.Option(help="Directory for dashboards/ and provisioning/")],
    clickhouse_host: ChHost = "clickhouse",
    clickhouse_port: ChPort = 8123,
    clickhouse_protocol: ChProtocol = "http",
    clickhouse_secure: ChSecure = False,
) -> None:
    """Write the dashboards, the datasource and dashboard providers, and the alert rules for provisioning."""
    from grafana.provisioning import ClickHouseEndpoint, build

    endpoint = ClickHouseEndpoint(clickhouse_host, clickhouse_port, clickhouse_protocol, clickhouse_secure)
    for path in build(out, endpoint):
        sys.stdout.write(f"{path}\n")


def _secret(env: str, file: Path | None, what: str) -> str | None:
    """A secret from a file (first line) or the environment; never echoed."""
    if file is not None:
        try:
            return file.read_text().strip() or None
        except OSError as exc:
            raise _fail(Exit.USAGE, "error", f"cannot read the {what} file {file}: {exc.strerror}") from exc
    return os.environ.get(env) or None


@grafana_app.command("push")
def grafana_push(
    url: Annotated[str, typer.Option(help="Grafana's base URL, e.g. https://grafana.example.com")],
    token_file: Annotated[
        Path | None, typer.Option(help="File holding a service-account token (else $GRAFANA_TOKEN)")
    ] = None,
    password_file: Annotated[
        Path | None,
        typer.Option(help="File holding the read-only ClickHouse user's password (else $SCOUT_CH_GRAFANA_PASSWORD)"),
    ] = None,
    rotate_password: Annotated[bool, typer.Option(help="Send the password to an existing datasource")] = False,
    clickhouse_host: ChHost = "clickhouse",
    clickhouse_port: ChPort = 8123,
    clickhouse_protocol: ChProtocol = "http",
    clickhouse_secure: ChSecure = False,
    timeout_s: Annotated[float, typer.Option(help="Seconds per HTTP request")] = 10.0,
) -> None:
    """Create or update the folder, datasource, dashboards and alert rules in a Grafana (idempotent)."""
    from grafana.datasource import PASSWORD_ENV
    from grafana.provisioning import ClickHouseEndpoint
    from grafana.push import PushError, push

    _configure_logging("INFO")
    token = _secret("GRAFANA_TOKEN", token_file, "token")
    if not token:
        raise _fail(Exit.USAGE, "error", "no Grafana token: set GRAFANA_TOKEN or pass --token-file")
    password = _secret(PASSWORD_ENV, password_file, "password")
    endpoint = ClickHouseEndpoint(clickhouse_host, clickhouse_port, clickhouse_protocol, clickhouse_secure)
    try:
        report = push(url, token, endpoint, password, rotate_password=rotate_password, timeout_s=timeout_s)
    except PushError as exc:
        raise _fail(Exit.GRAFANA, "grafana error", exc) from exc
    for kind, names in (("created", report.created), ("updated", report.updated)):
        for name in names:
            log.info(f"grafana {kind}", object=name)
    sys.stdout.write(f"grafana push: {report.summary()}\n")


@grafana_app.command("preview")
def grafana_preview(
    out: Annotated[Path, typer.Option(help="HTML file to write")] = Path(".scout/dashboards.html"),
    sink: SinkOpt = None,
) -> None:
    """Draw every dashboard panel from the warehouse into one static HTML page (no Grafana needed)."""
    from grafana.preview import render

    s = _settings(sink=sink)
    with _handled():
        report = render(_client(s), out, s.sink)
    for failed in report.failed:
        errors.print(f"[red]panel failed:[/red] {failed}", markup=True, highlight=False)
    sys.stdout.write(f"{out.resolve()}: {len(report.drawn)} panels drawn, {len(report.failed)} failed\n")
    if report.failed:
        raise typer.Exit(int(Exit.DIFFERENT))


@grafana_app.command("check")
def grafana_check(
    sink: SinkOpt = None,
    dashboards_dir: Annotated[
        Path | None, typer.Option("--dashboards", help="Check these dashboard JSON files (default: build them)")
    ] = None,
) -> None:
    """Check dashboards and alerts offline: generated Grafana schemas, one datasource, grants, and every
    query run on the warehouse (exit 1 on any problem)."""
    from grafana.alerts import api_rules
    from grafana.checks import check_all
    from grafana.dashboards import build_all

    s = _settings(sink=sink)
    if dashboards_dir is None:
        dashboards = build_all()
    else:
        files = sorted(dashboards_dir.glob("*.json"))
        if not files:
            raise _fail(Exit.USAGE, "error", f"no dashboard JSON files in {dashboards_dir}")
        dashboards = [json.loads(f.read_text()) for f in files]
    with _handled():
        problems = check_all(_client(s), dashboards, api_rules())
    for problem in problems:
        sys.stdout.write(f"{problem}\n")
    panels = sum(len([p for p in d.get("panels", []) if p.get("targets")]) for d in dashboards)
    sys.stdout.write(f"{len(dashboards)} dashboards, {panels} panels: {len(problems)} problems\n")
    if problems:
        raise typer.Exit(int(Exit.DIFFERENT))


KeyOpt = Annotated[Path | None, typer.Option("--key", help="Signing key (PEM); else $SCOUT_MODELS_SIGNING_KEY")]


@contextmanager
def _bundle_errors() -> Iterator[None]:
    from edge_runtime.bundles.manifest import BundleError

    try:
        yield
    except (BundleError, FileNotFoundError, IsADirectoryError) as exc:
        raise _fail(Exit.USAGE, "error", exc) from exc


@models_app.command("keygen")
def models_keygen(out: Annotated[Path, typer.Option(help="Private key file to create (mode 0600)")]) -> None:
    """Make an ed25519 signing key; prints the public key devices put in ``updates.trusted_keys``."""
    from edge_runtime.bundles.signing import generate, public_text, write_private

    key = generate()
    try:
        write_private(key, out)
    except FileExistsError as exc:
        raise _fail(Exit.USAGE, "error", f"{out} exists; a key is never overwritten") from exc
    out.with_name(out.name + ".pub").write_text(public_text(key) + "\n")
    sys.stdout.write(public_text(key) + "\n")


@models_app.command("quantize")
def models_quantize(
    fp32: Annotated[Path, typer.Option(help="The fp32 detector (ONNX)")],
    out: Annotated[Path, typer.Option(help="The int8 model to write")],
    calibration: Annotated[
        Path | None, typer.Option(help="Folder of calibration photos (default: the photos that ship in packages)")
    ] = None,
) -> None:
    """Static QDQ int8 (per-channel weights, MinMax calibration) — the same code as ``scout-edge models build``."""
    import cv2
    import numpy as np

    from edge_runtime.vision.quantize import calibration_photos, quantize_detector

    frames = None
    if calibration is not None:
        paths = sorted(p for p in calibration.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
        frames = [
            np.asarray(img, dtype=np.uint8) for p in paths if (img := cv2.imread(str(p), cv2.IMREAD_COLOR)) is not None
        ]
        if not frames:
            raise _fail(Exit.USAGE, "error", f"no readable photos in {calibration}")
    photos = frames if frames is not None else calibration_photos()
    with _progress("photos") as bar:
        task = bar.add_task("calibrating on photos", total=len(photos))
        quantize_detector(fp32, out, photos, on_photo=lambda: bar.advance(task))
    sys.stdout.write(f"{out} ({out.stat().st_size:,} bytes; fp32 {fp32.stat().st_size:,})\n")


@models_app.command("evaluate")
def models_evaluate(
    fp32: Annotated[Path, typer.Option(help="The fp32 detector")],
    int8: Annotated[Path, typer.Option(help="The int8 detector")],
    out: Annotated[Path, typer.Option(help="Folder for report.json and chart.png")],
    labels: Annotated[Path | None, typer.Option(help="JSON: photo name → [[x, y, w, h], …] (normalised)")] = None,
    runs: Annotated[int, typer.Option(help="Timed inferences per model")] = 20,
) -> None:
    """fp32 vs int8 on the held-out photos: size, latency p50/p95 (one thread), agreement; exit 1 if it fails."""
    from dataflows.bundles.chart import draw
    from edge_runtime.vision.build import held_out_photos
    from edge_runtime.vision.detector import Box
    from edge_runtime.vision.evaluate import evaluate_detectors

    truth = None
    if labels is not None:
        raw = json.loads(labels.read_text("utf-8"))
        truth = {name: [Box(b[0], b[1], b[2], b[3], score=1.0) for b in boxes] for name, boxes in raw.items()}
    with _progress("steps") as bar:
        bar.add_task("evaluating fp32 vs int8", total=None)
        report = evaluate_detectors(fp32, int8, held_out_photos(), labels=truth, runs=runs, latency_photo="t1.jpg")
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    draw(report, out / "chart.png")
    verdict = report["verdict"]
    for check, ok in verdict["checks"].items():
        sys.stdout.write(f"{'pass' if ok else 'FAIL'}  {check}\n")
    sys.stdout.write(f"{out / 'report.json'}, {out / 'chart.png'}: {'PASS' if verdict['pass'] else 'FAIL'}\n")
    if not verdict["pass"]:
        raise typer.Exit(int(Exit.DIFFERENT))


@models_app.command("sign")
def models_sign(
    model: Annotated[Path, typer.Option(help="The model: an ONNX file, or a Vosk model directory")],
    name: Annotated[str, typer.Option(help="Bundle name, e.g. centerface")],
    kind: Annotated[str, typer.Option(help="detector, vad or stt")],
    version: Annotated[str, typer.Option(help="Bundle version, e.g. 2.0.0")],
    out: Annotated[Path, typer.Option(help="The archive to write (.tar.gz)")],
    key: KeyOpt = None,
    evaluation: Annotated[Path | None, typer.Option(help="report.json of `scout models evaluate`")] = None,
    quantization: Annotated[str | None, typer.Option(help="How the model was quantized")] = None,
    reference_input: Annotated[Path | None, typer.Option(help=".npz of every input (non-detector ONNX)")] = None,
    reference_wav: Annotated[Path | None, typer.Option(help="WAV for an stt bundle's health check")] = None,
) -> None:
    """Make and sign a bundle: files, manifest (hashes, input spec, evaluation), health reference, signature."""
    from dataflows.bundles.make import evaluation_summary, load_report, make_bundle
    from edge_runtime.bundles.signing import load_private

    if kind not in ("detector", "vad", "stt"):
        raise _fail(Exit.USAGE, "error", f"--kind must be detector, vad or stt, not {kind!r}")
    with _bundle_errors():
        report = evaluation_summary(load_report(evaluation)) if evaluation else None
        if quantization is None and report is not None:
            quantization = "static QDQ, per-channel int8 weights, uint8 activations, MinMax calibration"
        manifest = make_bundle(
            model, name=name, kind=kind, version=version, private=load_private(key), out=out,  # type: ignore[arg-type]
            evaluation=report, quantization=quantization, reference_input=reference_input,
            reference_wav=reference_wav,
        )  # fmt: skip
    sys.stdout.write(f"{out}: {manifest.label}, {len(manifest.files)} files, {manifest.total_bytes:,} bytes\n")


@models_app.command("publish")
def models_publish(
    archive: Annotated[Path, typer.Argument(help="A bundle made by `scout models sign`")],
    channel: Annotated[str, typer.Option(help="canary, stable, …")],
    registry: Annotated[str, typer.Option(help="The registry folder (serve it with any static HTTP server)")],
    key: KeyOpt = None,
) -> None:
    """Check the bundle with the signing key, copy it into the registry and point the channel at it."""
    from edge_runtime.bundles.archive import verify_archive
    from edge_runtime.bundles.registry import publish
    from edge_runtime.bundles.signing import TrustedKeys, load_private, public_text

    if registry.startswith(("http://", "https://")):
        raise _fail(
            Exit.USAGE, "error", "publish writes a registry folder; sync that folder to the web server that serves it"
        )
    with _bundle_errors():
        private = load_private(key)
        verified = verify_archive(archive, TrustedKeys.parse([public_text(private)]), 1 << 40)
        entry = publish(Path(registry), archive, verified.manifest, channel, private)
    sys.stdout.write(f"{channel}: {verified.manifest.label} ({entry.archive}, {entry.bytes:,} bytes)\n")


@models_app.command("promote")
def models_promote(
    version: Annotated[str, typer.Argument(help="The version to promote")],
    name: Annotated[str, typer.Option(help="Bundle name")],
    from_channel: Annotated[str, typer.Option("--from", help="The canary channel")],
    to_channel: Annotated[str, typer.Option("--to", help="The channel to promote to")],
    registry: Annotated[str, typer.Option(help="The registry folder")],
    sink: SinkOpt = None,
    healthy_for_h: Annotated[float, typer.Option(help="Hours each canary must have run the version")] = 24.0,
    min_devices: Annotated[int, typer.Option(help="Canary devices needed")] = 1,
    max_silence_h: Annotated[float, typer.Option(help="Newest heartbeat at most this old")] = 2.0,
    as_of: Annotated[str | None, typer.Option(help="Judge as of this time (RFC 3339; default now)")] = None,
    key: KeyOpt = None,
) -> None:
    """Promote a version only if its canary devices reported it healthy long enough (exit 1 if refused)."""
    from datetime import UTC, datetime

    from dataflows.bundles.promote import canary_health
    from edge_runtime.bundles.manifest import MODEL_KEY
    from edge_runtime.bundles.registry import read_channel, set_channel
    from edge_runtime.bundles.signing import load_private

    s = _settings(sink=sink)
    with _bundle_errors():
        private = load_private(key)
        entry = read_channel(Path(registry), from_channel).bundles.get(name)
        if entry is None or entry.version != version:
            raise _fail(Exit.USAGE, "error", f"{from_channel} does not carry {name} {version}")
    moment = datetime.fromisoformat(as_of) if as_of else None
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # a time without a zone is UTC, as the warehouse stores it
    with _handled():
        report = canary_health(
            _client(s), MODEL_KEY[entry.kind], f"{name}@{version}", healthy_for_h=healthy_for_h,
            min_devices=min_devices, max_silence_h=max_silence_h, as_of=moment,
        )  # fmt: skip
    table = Table("device", "store", "hours on version", "heartbeats", "unhealthy", "degraded", "bad hours")
    for d in report.devices:
        table.add_row(
            d["device_id"], d["store_id"], f"{d['hours_on_version']}", f"{d['heartbeats']}",
            f"{d['unhealthy']}", f"{d['degraded']}", f"{d['bad_hours']}",
        )  # fmt: skip
    console.print(table)
    if not report.granted:
        for reason in report.reasons:
            errors.print(f"[red]refused:[/red] {reason}", markup=True, highlight=False)
        raise typer.Exit(int(Exit.DIFFERENT))
    set_channel(Path(registry), to_channel, name, entry, private)
    sys.stdout.write(f"promoted {name} {version}: {from_channel} → {to_channel}\n")


@contract_app.command("schema")
def contract_schema() -> None:
    """Print the JSON Schema of the event contract."""
    from scout_contract.jsonschema import event_json_schema

    sys.stdout.write(json.dumps(event_json_schema(), indent=2) + "\n")


def main() -> None:
    # A failure inside Bytewax reaches Python through a Rust panic; its hook would print a
    # 100-line Rust backtrace before our one-line message. SCOUT_RUST_BACKTRACE=1 brings it back.
    os.environ["RUST_BACKTRACE"] = os.environ.get("SCOUT_RUST_BACKTRACE", "0")
    app()


if __name__ == "__main__":
    main()
