"""``scout recovery``: the Bytewax recovery store, outside a run.

``scout recovery prepare --recovery-dir DIR`` does what ``scout run`` does before it starts Bytewax: a
new store is created with ``recovery_partitions`` partitions, an existing one loses the snapshots of
epochs a killed run never finished (:func:`dataflows.runner.prepare_recovery`). ``python -m bytewax.run``
does neither (it needs the partitions to exist, and would load those snapshots), so a pod that runs the
dataflow that way runs this first, as an init container, on its own volume.

**Where the partitions live in a cluster with a volume per pod** (``--pod-name``, the Helm chart). A
Bytewax cluster must see every partition exactly once, collectively: a partition missing from every
volume stops a resume ("Missing recovery partitions"), and a copy on two volumes is two diverging
versions of one partition. So the whole store lives on the volume of pod ordinal 0, its *home*; the
other pods' volumes hold none (Bytewax lets a worker own no partition: it snapshots through the owner).
A cluster rescaled to any size keeps ordinal 0, hence the whole store, without moving a file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from dataflows.errors import Exit
from scout_cli.common import fail, handled, settings

app = typer.Typer(no_args_is_help=True, help="The Bytewax recovery store: prepare it before a bytewax.run start.")


def pod_ordinal(pod_name: str) -> int:
    """A StatefulSet pod's ordinal, the number its name ends with (``scout-dataflow-2`` → 2)."""
    found = re.fullmatch(r".*-(\d+)", pod_name)
    if found is None:
        raise ValueError(f"pod name {pod_name!r} does not end with a StatefulSet ordinal (-N)")
    return int(found.group(1))


@app.command("prepare")
def recovery_prepare(
    recovery_dir: Annotated[Path, typer.Option(help="The recovery directory (created with its partitions if empty)")],
    pod_name: Annotated[
        str | None,
        typer.Option(help="This StatefulSet pod's name: the store lives on ordinal 0's volume, others hold none"),
    ] = None,
) -> None:
    """Create the store with its partitions, or repair it before a resume (idempotent)."""
    from dataflows.recovery_store import committed_epoch
    from dataflows.runner import prepare_recovery

    s = settings(recovery_dir=recovery_dir)
    try:
        ordinal = 0 if pod_name is None else pod_ordinal(pod_name)
    except ValueError as exc:
        raise fail(Exit.USAGE, "bad pod name", exc) from exc
    parts = sorted(p.name for p in recovery_dir.glob("part-*.sqlite3"))
    if ordinal > 0:
        if parts:
            found = ", ".join(parts)
            raise fail(Exit.USAGE, "recovery store misplaced",
                       f"{recovery_dir} on pod {pod_name} holds recovery partitions ({found}); in a cluster the "
                       "store lives on ordinal 0's volume only, and a second copy of a partition diverges from it: "
                       "move these files to ordinal 0's volume if that one lacks them, else delete them")  # fmt: skip
        recovery_dir.mkdir(parents=True, exist_ok=True)
        typer.echo(f"recovery store {recovery_dir}: none here (pod ordinal {ordinal}; the store is on ordinal 0)")
        return
    with handled():
        prepare_recovery(s)
    parts = sorted(p.name for p in recovery_dir.glob("part-*.sqlite3"))
    epoch = committed_epoch(recovery_dir)
    typer.echo(f"recovery store {recovery_dir}: {len(parts)} partitions, newest committed epoch {epoch}")
