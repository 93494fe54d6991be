"""Run the dataflow from settings: sources, sink, recovery, metrics.

Single process by default (``bytewax.run.cli_main`` with one worker). On
Kubernetes the same flow runs as a multi-process cluster through
``python -m bytewax.run dataflows.entrypoint:flow`` (see ``k8s/``).
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path

import structlog
from bytewax.dataflow import Dataflow
from bytewax.inputs import Source
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.run import cli_main
from clickhouse_connect.driver.client import Client

from dataflows.bronze.rules import load_rules
from dataflows.columnar_flow import DEVICE_GROUPS_STEP, build_columnar_flow
from dataflows.config import Settings
from dataflows.errors import Exit, RecoveryStateError, ScoutError, UsageError
from dataflows.flow import build_flow
from dataflows.health import HEALTH, Check
from dataflows.recovery_store import committed_epoch, discard_unfinished_snapshots, partitions, state_keys
from dataflows.silver.annotate import load_lexicon
from dataflows.sinks.clickhouse import ClickHouseSink
from dataflows.sinks.kafka import KafkaTopicSink, OutgoingRecord
from dataflows.sinks.topic_file import TopicFileSink
from dataflows.sinks.writer import InlineWriter, TableWriter
from dataflows.sources import stop
from dataflows.sources.eventhubs import EventHubsSource
from dataflows.sources.file import LineItem, Progress, TopicFileSource, TopicLineSource
from dataflows.sources.kafka import KafkaSource, parse_bootstrap, topic_partitions
from dataflows.tables import TableRows
from dataflows.warehouse import ClientSpec, WarehouseError, chdb_path, pending_migrations
from scout_contract import SourceRecord

log = structlog.get_logger(__name__)


class SourceError(ScoutError, ValueError):
    """A ``--source`` value that cannot be used."""

    exit_code, label = Exit.USAGE, "error"


def parse_source(spec: str, base: Path | None = None) -> Path:
    """``file:PATH`` → a path to a topic file (``kafka://…`` is parsed by :func:`build_source`).

    >>> parse_source("file:events.jsonl", Path("/data"))
    Traceback (most recent call last):
    ...
    dataflows.runner.SourceError: source file not found: /data/events.jsonl
    """
    kind, sep, rest = spec.partition(":")
    if not sep or kind != "file" or not rest:
        raise SourceError(
            f"unsupported source {spec!r}: expected file:PATH, kafka://HOST:PORT[,…] or eventhubs://NAMESPACE"
        )
    path = Path(rest)
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    if not path.is_file():
        raise SourceError(f"source file not found: {path}")
    return path


#: ``--source`` prefixes of the brokers (everything else is ``file:PATH``).
BROKERS = ("kafka://", "eventhubs://")


def is_broker(spec: str) -> bool:
    """Whether a ``--source`` names a broker rather than a topic file.

    >>> is_broker("kafka://127.0.0.1:9092"), is_broker("file:events.jsonl")
    (True, False)
    """
    return spec.startswith(BROKERS)


#: A dataflow's input: batches of records, or (the columnar engine's topic files) blocks of lines
Input = Source[list[SourceRecord]] | Source[LineItem]


def build_source(settings: Settings, specs: list[str], progress: Progress | None = None) -> Input:
    """The input for ``--source`` values: topic files (as lines for the columnar engine: its compiled
    path reads them), or the Kafka input topics (one ``kafka://``)."""
    if any(s.startswith("eventhubs://") for s in specs):
        if len(specs) != 1:
            raise SourceError("give one eventhubs://… source")
        if settings.eventhubs_connection_string is None:
            raise SourceError(
                "eventhubs:// needs the namespace connection string "
                "(SCOUT_EVENTHUBS_CONNECTION_STRING or eventhubs_connection_string_file)"
            )
        return EventHubsSource(
            settings.eventhubs_connection_string.get_secret_value(), settings.topics.input_topics(),
            settings.eventhubs_consumer_group, settings.batch_size, progress,
        )  # fmt: skip
    kafka = [s for s in specs if s.startswith("kafka://")]
    if kafka:
        if len(kafka) != 1 or len(specs) != 1:
            raise SourceError("give one kafka://… source, or topic files; not both")
        conf = settings.kafka.librdkafka(parse_bootstrap(kafka[0]))
        return KafkaSource(
            conf, settings.topics.input_topics(), settings.batch_size, settings.stop_at_end, progress=progress,
            group=settings.kafka_group,
        )  # fmt: skip
    paths = [parse_source(s) for s in specs]
    files = TopicLineSource if settings.engine == "columnar" else TopicFileSource  # lines: the compiled path reads them
    return files(
        paths,
        settings.batch_size,
        progress,
        keep_partial=settings.recovery_dir is not None,
        max_record_bytes=settings.max_record_bytes,
    )


@dataclass
class RunStats:
    """What a run wrote: rows per table; the writer process's peak RSS when one wrote them."""

    rows: dict[str, int] = field(default_factory=dict)
    writer_peak_rss_mb: float | None = None

    def on_write(self, counts: dict[str, int]) -> None:
        for table, n in counts.items():
            self.rows[table] = self.rows.get(table, 0) + n


def make_flow(
    settings: Settings,
    source: Input,
    client: Client | None,
    on_write: Callable[[dict[str, int]], None] | None = None,
    replay_filter: Callable[[TableRows], TableRows] | None = None,
    sink: ClickHouseSink | None = None,
    writer: TableWriter | None = None,
) -> Dataflow:
    """The dataflow for ``settings``: ``source`` in, ClickHouse (and optionally
    the annotated-events topic file) out. Reading Kafka (``kafka_outputs``), rejected
    records also go to the dead-letter topic and annotated events to their topic on the
    same brokers; a tailing Kafka source closes idle devices' sessions after ``idle_close_s``.
    ``replay_filter``: a replay's (:meth:`dataflows.replay.ReplayPlan.keep`): write only the rows
    it keeps, produce nothing to Kafka.
    ``writer``: who writes the rows (e.g. a :class:`~dataflows.sinks.writer.ProcessWriter`);
    by default this process, through ``client``."""
    live = isinstance(source, KafkaSource) and not source.stop_at_end
    dead_letters: KafkaTopicSink[OutgoingRecord] | None = None
    annotated_topic: KafkaTopicSink[SourceRecord] | None = None
    if isinstance(source, KafkaSource) and settings.kafka_outputs and replay_filter is None:
        n = settings.kafka.partitions
        dead_letters = KafkaTopicSink[OutgoingRecord](source.conf, settings.topics.dead_letter, n)
        if not settings.annotated_out:
            annotated_topic = KafkaTopicSink[SourceRecord](source.conf, settings.topics.annotated, n)
    build: Callable[..., Dataflow] = build_flow
    if settings.engine == "columnar":
        build = partial(build_columnar_flow, groups=settings.key_groups)
    elif isinstance(source, TopicLineSource):
        raise ValueError("the rows engine reads records: build its source with engine rows")
    return build(
        source,
        sink if sink is not None else clickhouse_sink(settings, client, on_write, writer=writer),
        load_rules(settings.rules_file),
        load_lexicon(settings.lexicon_file),
        settings.windows(),
        settings.topics.topic_streams(),
        annotated_sink=(
            TopicFileSink(settings.annotated_out, settings.topics.annotated)
            if settings.annotated_out
            else annotated_topic
        ),
        dead_letter_sink=dead_letters,
        close_at_eof=settings.closes_sessions_at_end,
        idle_close_ms=int(settings.idle_close_s * 1000) if live else None,
        row_filter=replay_filter,
    )


def client_spec(settings: Settings, create: bool = False) -> ClientSpec:
    """How to open the settings' warehouse (picklable: a writer process opens it with this)."""
    password = settings.clickhouse_password.get_secret_value() if settings.clickhouse_password else None
    return ClientSpec(settings.sink, settings.clickhouse_user, password, settings.connect_options(), create)


def clickhouse_sink(settings: Settings, client: Client | None, on_write: Callable[[dict[str, int]], None] | None,
                    workers: int = 1, writer: TableWriter | None = None,
                    opened: list[Client] | None = None) -> ClickHouseSink:  # fmt: skip
    """The warehouse sink: one writer for chDB (opened only by the process that writes), one per
    worker against a server. ``writer``: who writes (used as is); else ``client``, an open client
    to reuse (single process), or a client opened by the worker that writes — appended to ``opened``,
    which the caller closes from its main thread after the run. (Left to the garbage collector, a
    chDB client was closed by its finalizer on Bytewax's worker thread, where chDB's close hung now
    and then: a ``--processes 2`` run with a recovery directory never ended.)"""

    def open_writer() -> TableWriter:
        if writer is not None:
            return writer
        if client is not None:
            return InlineWriter(client, on_write)
        own = client_spec(settings)()
        if opened is not None:
            opened.append(own)
        return InlineWriter(own, on_write)

    writers = 1 if embedded(settings) else workers
    return ClickHouseSink(open_writer, settings.sink_flush_rows, writers, settings.flush_interval_s)


def readiness_checks(settings: Settings, specs: list[str], timeout_s: float = 5.0,
                     warehouse: Check | None = None) -> dict[str, Check]:  # fmt: skip
    """What ``/readyz`` checks for a run (:mod:`dataflows.health`): its ``source`` — Kafka: the brokers
    answer within ``timeout_s`` and the input topics exist; topic files: they are there (Event Hubs is
    not checked) — and its ``warehouse``: reachable and every migration applied, or ``warehouse`` when
    the run knows better (an embedded chDB directory is open in the run's writer only)."""
    kafka = [s for s in specs if s.startswith("kafka://")]

    def brokers() -> None:
        conf = settings.kafka.librdkafka(parse_bootstrap(kafka[0]))
        topic_partitions(conf, settings.topics.input_topics(), timeout_s)

    def files() -> None:
        for spec in specs:
            parse_source(spec)

    def migrated() -> None:
        client = client_spec(settings)()
        try:
            if pending := pending_migrations(client):
                names = ", ".join(pending)
                raise WarehouseError(f"{len(pending)} migrations not applied ({names}): run `scout db migrate`")
        finally:
            client.close()

    checks: dict[str, Check] = {}
    if kafka:
        checks["source"] = brokers
    elif not any(s.startswith("eventhubs://") for s in specs):
        checks["source"] = files
    checks["warehouse"] = warehouse or migrated
    return checks


def watch_health(settings: Settings, specs: list[str]) -> None:
    """From now on, ``/livez`` and ``/readyz`` answer for this run (its limits and checks). An embedded
    warehouse is not opened again: the run migrated it before this, and only its writer may open it."""
    stall = settings.liveness_epochs * settings.snapshot_interval_s
    owned: Check | None = (lambda: None) if embedded(settings) else None
    HEALTH.configure(stall, settings.liveness_startup_s, readiness_checks(settings, specs, warehouse=owned))


def embedded(settings: Settings) -> bool:
    """Whether the warehouse is a chDB directory (opened by one process of the run only)."""
    return chdb_path(settings.sink) is not None


def prepare_recovery(settings: Settings) -> None:
    """Before a run: a new recovery store is created; an existing one loses the snapshots a killed run
    wrote for epochs it never finished (:func:`~dataflows.recovery_store.discard_unfinished_snapshots`:
    Bytewax 0.21 would load them at a later resume). Done once, before any process of a run opens the
    store: the parent of a ``--processes N`` cluster does it before it starts the workers (a worker
    that read the store while another was still creating it failed on a half-made partition)."""
    if settings.recovery_dir is None:
        return
    db = Path(settings.recovery_dir)
    if not db.exists() or not any(db.iterdir()):
        db.mkdir(parents=True, exist_ok=True)
        init_db_dir(db, settings.recovery_partitions)
    else:
        check_engine(settings, db)
        if (stale := discard_unfinished_snapshots(db)) > 0:
            log.info("discarded snapshots of unfinished epochs before resuming", snapshots=stale)


def check_engine(settings: Settings, store: Path) -> None:
    """Refuse a store another engine wrote, or the columnar engine's with another number of key groups:
    its per-key state would be left behind, or read for the wrong keys."""
    keys = state_keys(store)
    steps = {step.rsplit(".", 1)[-1] for step, _ in keys}
    other = "event_clock" if settings.engine == "columnar" else DEVICE_GROUPS_STEP
    if other in steps:
        raise RecoveryStateError(
            f"the recovery store {store} holds the {'rows' if other == 'event_clock' else 'columnar'} engine's "
            f"per-key state; this run's engine is {settings.engine}: start from a new --recovery-dir"
        )
    groups = {key.rsplit("/", 1)[-1] for step, key in keys if step.endswith("." + DEVICE_GROUPS_STEP)}
    if settings.engine == "columnar" and groups - {str(settings.key_groups)}:
        raise RecoveryStateError(
            f"the recovery store {store} holds key groups of {', '.join(sorted(groups))}; this run has "
            f"{settings.key_groups} (SCOUT_KEY_GROUPS): start from a new --recovery-dir"
        )


def pod_ordinal(pod_name: str) -> int:
    """A StatefulSet pod's ordinal, the number its name ends with.

    >>> pod_ordinal("scout-scout-stream-2")
    2
    """
    found = re.fullmatch(r".*-(\d+)", pod_name)
    if found is None:
        raise UsageError(f"pod name {pod_name!r} does not end with a StatefulSet ordinal (-N)")
    return int(found.group(1))


def prepare_pod_recovery(settings: Settings, pod_name: str) -> str:
    """:func:`prepare_recovery` for one pod of a cluster with a volume per pod (the Helm chart); what it
    found, in one line.

    A Bytewax cluster must see every recovery partition exactly once: a partition on no volume stops a
    resume, and a copy on two volumes is two diverging versions of it (a cluster with a copy of the
    store on every volume panicked after an upgrade from 2 to 3 pods). So the whole store lives on the
    volume of ordinal 0, which creates and repairs it; the others hold none (Bytewax lets a worker own
    no partition), and one that finds partitions refuses to start. A cluster rescaled to any size
    keeps ordinal 0, hence the store, without moving a file."""
    assert settings.recovery_dir is not None, "a pod's recovery directory is its volume"
    store = Path(settings.recovery_dir)
    ordinal = pod_ordinal(pod_name)
    if ordinal > 0:
        if parts := [p.name for p in partitions(store)]:
            raise UsageError(
                f"{store} on pod {pod_name} holds recovery partitions ({', '.join(parts)}); the store lives on "
                "ordinal 0's volume only, and a second copy of a partition diverges from it: move these files "
                "to ordinal 0's volume if that one lacks them, else delete them"
            )
        store.mkdir(parents=True, exist_ok=True)
        return f"recovery store {store}: none here (pod ordinal {ordinal}; the store is on ordinal 0)"
    prepare_recovery(settings)
    return store_summary(store)


def store_summary(store: Path) -> str:
    """One line on a recovery store: its partitions and newest committed epoch."""
    return (
        f"recovery store {store}: {len(partitions(store))} partitions, newest committed epoch {committed_epoch(store)}"
    )


def run_flow(
    flow: Dataflow, settings: Settings, process_id: int | None = None, addresses: list[str] | None = None
) -> None:
    """Execute in this process; with ``recovery_dir`` state survives a crash.

    SIGTERM/SIGINT end the sources at their next read, so the run finishes
    cleanly (last epoch written and snapshotted; see :mod:`dataflows.sources.stop`).

    The dataflow allocates many short-lived containers per record; the default
    cyclic-GC thresholds (700) make collection a third of the run time here. The
    young generation's threshold is raised to 1,000,000 *net* new containers for
    the run (events and rows hold no reference cycles and die by reference
    counting, so a collection runs only when live state really grows by that
    much; what it saved is in bench/README.md, "Figures quoted by the code").
    The objects made at start-up are frozen out of collection.

    A single process prepares its recovery store first (:func:`prepare_recovery`); the processes of a
    cluster (``process_id`` given) find it prepared by their parent.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(1_000_000, 20, 100)
    recovery = None
    if settings.recovery_dir is not None:
        if process_id is None:
            prepare_recovery(settings)
        recovery = RecoveryConfig(Path(settings.recovery_dir))
    restore = stop.install()
    try:
        cli_main(
            flow,
            workers_per_process=1,
            process_id=process_id,
            addresses=addresses,
            epoch_interval=timedelta(seconds=settings.snapshot_interval_s),
            recovery_config=recovery,
        )
    finally:
        restore()
