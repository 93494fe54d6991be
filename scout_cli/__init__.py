"""``scout``: the cloud half's CLI, composed of one module per command group.

* :mod:`.common` — consoles, the error handler (exit codes), settings, the warehouse client, progress;
* :mod:`.pipeline` — simulate, run, worker, replay, demo, summary;
* :mod:`.db`, :mod:`.grafana`, :mod:`.models`, :mod:`.contract`, :mod:`.recovery` — the command groups of
  those names.

The work itself is library code (:mod:`dataflows.pipeline`, :mod:`dataflows.replay`,
:mod:`grafana`, :mod:`bundle_tooling`); this package reads flags and prints.
"""

from __future__ import annotations

import os

import typer

from scout_cli import contract, db, grafana, models, pipeline, recovery

HELP = "\n\n".join(
    (
        "Scout stream: the cloud half (simulate, run, replay, migrate, verify, dashboards, model bundles).",
        "Configuration precedence: flags > SCOUT_* environment > scout.toml (or SCOUT_CONFIG) > defaults. "
        "Secrets are never printed.",
        "Exit codes (also in the README): 0 done; 1 db verify found differences or a check failed; "
        "2 a usage or configuration error; 3 a quality rule with action fail stopped the dataflow; "
        "4 the warehouse cannot be used (unreachable, not migrated, locked by another process, refused a write); "
        "5 the source cannot be used (Kafka brokers unreachable, a topic missing); "
        "6 Grafana refused or could not be reached (grafana push); 130 interrupted. "
        "Each error is one line on stderr, never a traceback.",
    )
)

app = typer.Typer(no_args_is_help=True, add_completion=False, help=HELP)
app.registered_commands += pipeline.app.registered_commands
app.add_typer(db.app, name="db")
app.add_typer(contract.app, name="contract")
app.add_typer(grafana.app, name="grafana")
app.add_typer(models.app, name="models")
app.add_typer(recovery.app, name="recovery")


def main() -> None:
    """The ``scout`` console script."""
    # A failure inside Bytewax reaches Python through a Rust panic; its hook would print a
    # 100-line Rust backtrace before our one-line message. SCOUT_RUST_BACKTRACE=1 brings it back.
    os.environ["RUST_BACKTRACE"] = os.environ.get("SCOUT_RUST_BACKTRACE", "0")
    app()
