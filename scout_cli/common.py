"""What every ``scout`` command module shares: consoles, the error handler, settings, the warehouse
client, progress bars and stage timings.

Every known failure is a :class:`~dataflows.errors.ScoutError` carrying its exit code;
:func:`handled` turns it (found anywhere in the exception's chain: Bytewax wraps errors raised
in steps) into one line on stderr and that code. Secrets are never printed.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
from dataflows.errors import Exit, ScoutError
from dataflows.pipeline import ProgressBar, Stages

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

console = Console(width=None if sys.stdout.isatty() else 120)
errors = Console(stderr=True, width=None if sys.stderr.isatty() else 200)
log = structlog.get_logger("scout")

SinkOpt = Annotated[str | None, typer.Option("--sink", help="ClickHouse DSN (chdb:///path or http(s)://…)")]


def fail(code: Exit, label: str, message: object) -> typer.Exit:
    """Print one line on stderr; the caller raises what this returns."""
    errors.print(f"[red]{label}:[/red] {message}", markup=True, highlight=False, soft_wrap=True)
    return typer.Exit(int(code))


@contextmanager
def handled() -> Iterator[None]:
    """Turn every known failure into one line on stderr and its exit code."""
    from clickhouse_connect.driver.exceptions import ClickHouseError

    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except KeyboardInterrupt as exc:
        raise fail(Exit.INTERRUPTED, "interrupted", "stopped by the user") from exc
    except Exception as exc:
        if (found := ScoutError.in_chain(exc)) is not None:
            raise fail(found.exit_code, found.label, found) from exc
        seen: BaseException | None = exc
        visited: set[int] = set()
        while seen is not None and id(seen) not in visited:  # a driver error nobody wrapped: the warehouse's
            if isinstance(seen, ClickHouseError):
                raise fail(Exit.WAREHOUSE, "warehouse error", str(seen).strip().splitlines()[0]) from exc
            visited.add(id(seen))
            seen = seen.__cause__ or seen.__context__
        raise


def configure_logging(level: str) -> None:
    """Structured JSON logs on stderr at ``level``."""
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


def settings(**flags: object) -> Settings:
    """Settings from flags, environment, ``scout.toml`` and defaults; a bad one exits 2."""
    try:
        s = load_settings(**flags)
    except Exception as exc:  # pydantic ValidationError, TOML errors, unreadable secret file, missing SCOUT_CONFIG
        raise fail(Exit.USAGE, "configuration error", exc) from exc
    configure_logging(s.log_level)
    return s


def client(s: Settings, create: bool = False, migrated: bool = True) -> Client:
    """A warehouse client; ``create`` for commands that write, ``migrated`` to require the schema."""
    from dataflows.runner import client_spec
    from dataflows.warehouse import require_schema

    c = client_spec(s, create=create)()
    if migrated:
        require_schema(c, s.sink)
    return c


def stages_table(stages: Stages) -> Table:
    """The stages of a command and their wall time, as a table."""
    t = Table(title="Stages", title_justify="left", header_style="bold cyan")
    t.add_column("stage")
    t.add_column("seconds", justify="right")
    t.add_column("detail")
    for name, secs, detail in stages.rows:
        t.add_row(name, f"{secs:.2f}", detail)
    return t


def progress(unit: str = "bytes") -> Progress:
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


def bar_for(description: str) -> ProgressBar:
    """A :data:`~dataflows.pipeline.ProgressBar` drawn by :func:`progress` under ``description``."""

    @contextmanager
    def open_bar(unit: str, total: int | None) -> Iterator[Callable[[int], None]]:
        with progress(unit) as bar:
            task = bar.add_task(description, total=total)
            yield lambda k: bar.advance(task, k)

    return open_bar
