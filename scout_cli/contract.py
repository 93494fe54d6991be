"""``scout contract``: the event contract, and topic files checked against it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from dataflows.errors import Exit
from scout_cli.common import bar_for, console, handled, settings

app = typer.Typer(no_args_is_help=True, help="The event contract.")


@app.command("schema")
def contract_schema() -> None:
    """Print the JSON Schema of the event contract."""
    from scout_contract.jsonschema import event_json_schema

    sys.stdout.write(json.dumps(event_json_schema(), indent=2) + "\n")


@app.command("check")
def contract_check(
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, readable=True, help="Topic files")],
    rules: Annotated[Path | None, typer.Option(help="Quality rules file (YAML)")] = None,
    quarantine_out: Annotated[
        Path | None, typer.Option("--quarantine-out", help="Write the quarantine rows here, one JSON line each")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(min=1)] = None,
) -> None:
    """Check topic files against the contract and the quality rules, as the dataflow's bronze step
    would, writing nothing: records accepted and quarantined per stream, and the rules that fail.

    Exit 1 when a record would be quarantined; 3 when a rule whose action is fail breaks.
    """
    from rich.table import Table

    from dataflows.bronze.rules import load_rules
    from dataflows.bronze.validate import Validator
    from dataflows.contract_check import check_files, quarantine_line

    s = settings(rules_file=rules, batch_size=batch_size)
    total = sum(f.stat().st_size for f in files)
    with handled():
        validator = Validator(load_rules(s.rules_file), s.topics.topic_streams())
        with bar_for("checking")("bytes", total) as advance:
            if quarantine_out is None:
                result = check_files(files, validator, s.batch_size, advance)
            else:
                with quarantine_out.open("wb") as out:
                    result = check_files(files, validator, s.batch_size, advance,
                                         lambda row: out.write(quarantine_line(row) + b"\n"))  # fmt: skip
    streams = Table(title=f"{result.records:,} records", title_justify="left", header_style="bold cyan")
    for col in ("stream", "accepted", "quarantined"):
        streams.add_column(col, justify="left" if col == "stream" else "right")
    for stream in sorted(result.accepted.keys() | result.quarantined.keys()):
        streams.add_row(stream, f"{result.accepted[stream]:,}", f"{result.quarantined[stream]:,}")
    console.print(streams)
    if result.failed:
        broken = Table(title="Rules that fail", title_justify="left", header_style="bold cyan")
        for col in ("rule", "stream", "action", "records"):
            broken.add_column(col, justify="right" if col == "records" else "left")
        for (stream, rule, action), n in sorted(result.failed.items(), key=lambda kv: (-kv[1], kv[0])):
            broken.add_row(rule, stream, action, f"{n:,}")
        console.print(broken)
    path = f"compiled decode path: {result.cleared:,} records cleared" if result.compiled else "pure-Python path"
    console.print(f"checked on the {path}; duplicates and lateness are the dataflow's to decide")
    if sum(result.quarantined.values()):
        raise typer.Exit(int(Exit.DIFFERENT))
