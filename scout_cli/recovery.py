"""``scout recovery``: the Bytewax recovery store, outside a run.

``scout recovery prepare --recovery-dir DIR`` does what ``scout run`` does before it starts Bytewax: a
new store is created with ``recovery_partitions`` partitions, an existing one loses the snapshots of
epochs a killed run never finished (:func:`dataflows.runner.prepare_recovery`). ``python -m bytewax.run``
does neither by itself; ``dataflows.entrypoint`` does it for a pod (``BYTEWAX_POD_NAME``) at every start
of its container. ``--pod-name`` applies the chart's layout (the store on ordinal 0's volume only,
:func:`dataflows.runner.prepare_pod_recovery`), e.g. to check a volume by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scout_cli.common import handled, settings

app = typer.Typer(no_args_is_help=True, help="The Bytewax recovery store: prepare it before a bytewax.run start.")


@app.command("prepare")
def recovery_prepare(
    recovery_dir: Annotated[Path, typer.Option(help="The recovery directory (created with its partitions if empty)")],
    pod_name: Annotated[
        str | None,
        typer.Option(help="This StatefulSet pod's name: the store lives on ordinal 0's volume, others hold none"),
    ] = None,
) -> None:
    """Create the store with its partitions, or repair it before a resume (idempotent)."""
    from dataflows.runner import prepare_pod_recovery, prepare_recovery, store_summary

    s = settings(recovery_dir=recovery_dir)
    with handled():
        if pod_name is not None:
            typer.echo(prepare_pod_recovery(s, pod_name))
            return
        prepare_recovery(s)
    typer.echo(store_summary(recovery_dir))
