"""``scout contract``: the event contract."""

from __future__ import annotations

import json
import sys

import typer

app = typer.Typer(no_args_is_help=True, help="The event contract.")


@app.command("schema")
def contract_schema() -> None:
    """Print the JSON Schema of the event contract."""
    from scout_contract.jsonschema import event_json_schema

    sys.stdout.write(json.dumps(event_json_schema(), indent=2) + "\n")
