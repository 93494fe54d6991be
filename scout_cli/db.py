"""``scout db``: migrate the warehouse, verify streamed against recomputed, run one read query."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from dataflows.errors import Exit
from scout_cli.common import SinkOpt, client, console, handled, settings

app = typer.Typer(no_args_is_help=True, help="Warehouse schema.")


@app.command("migrate")
def db_migrate(sink: SinkOpt = None) -> None:
    """Apply the numbered migrations in clickhouse/migrations (idempotent); record day_timezone."""
    from dataflows.warehouse import migrate

    s = settings(sink=sink)
    with handled():
        applied = migrate(client(s, create=True, migrated=False), day_timezone=s.day_timezone)
    console.print(f"migrations applied: {', '.join(applied) if applied else 'none (schema up to date)'}")


@app.command("verify")
def db_verify(
    sink: SinkOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Recompute silver sessions and gold tables from bronze; compare with the streamed ones."""
    from dataflows.verify import verify

    s = settings(sink=sink)
    with handled():
        checks = verify(client(s), s.windows())
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
        for h in ("table", "recomputed rows", "streamed rows", "missing", "unexpected", "different", "result"):
            t.add_column(h)
        for c in checks:
            verdict = "[green]equal[/green]" if c.ok else "[red]DIFFERENT[/red]"
            counts = (c.expected_rows, c.actual_rows, len(c.missing), len(c.unexpected), len(c.different))
            t.add_row(c.table, *map(str, counts), verdict)
        console.print(t)
    if not all(c.ok for c in checks):
        raise typer.Exit(int(Exit.DIFFERENT))


@app.command("query")
def db_query(sql: str, sink: SinkOpt = None) -> None:
    """Run one read query and print its rows as JSON lines (for scripts and tests).

    The query runs with ClickHouse's readonly = 1: the server refuses DDL,
    DML and setting changes, whatever the SQL says.
    """
    s = settings(sink=sink)
    with handled():
        result = client(s).query(sql, settings={"readonly": 1})
    for row in result.result_rows:
        sys.stdout.write(json.dumps(dict(zip(result.column_names, row, strict=True)), default=str) + "\n")
