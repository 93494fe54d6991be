"""``scout models``: signing keys, quantize, evaluate, sign, publish, promote (docs/models.md).

The tooling is :mod:`bundle_tooling` (and :mod:`edge_runtime.vision` for quantizing and the
held-out photos); the bundle format, signatures and registry are :mod:`scout_bundles`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dataflows.errors import Exit
from scout_cli.common import SinkOpt, client, console, errors, fail, handled, progress, settings

app = typer.Typer(no_args_is_help=True, help="Model bundles: keys, quantize, evaluate, sign, publish, promote.")

KeyOpt = Annotated[Path | None, typer.Option("--key", help="Signing key (PEM); else $SCOUT_MODELS_SIGNING_KEY")]


@contextmanager
def _bundle_errors() -> Iterator[None]:
    from scout_bundles.manifest import BundleError

    try:
        yield
    except (BundleError, FileNotFoundError, IsADirectoryError) as exc:
        raise fail(Exit.USAGE, "error", exc) from exc


@app.command("keygen")
def models_keygen(out: Annotated[Path, typer.Option(help="Private key file to create (mode 0600)")]) -> None:
    """Make an ed25519 signing key; prints the public key devices put in updates.trusted_keys."""
    from scout_bundles.signing import generate, public_text, write_private

    key = generate()
    try:
        write_private(key, out)
    except FileExistsError as exc:
        raise fail(Exit.USAGE, "error", f"{out} exists; a key is never overwritten") from exc
    out.with_name(out.name + ".pub").write_text(public_text(key) + "\n")
    sys.stdout.write(public_text(key) + "\n")


@app.command("quantize")
def models_quantize(
    fp32: Annotated[Path, typer.Option(help="The fp32 detector (ONNX)")],
    out: Annotated[Path, typer.Option(help="The int8 model to write")],
    calibration: Annotated[
        Path | None, typer.Option(help="Folder of calibration photos (default: the photos that ship in packages)")
    ] = None,
) -> None:
    """Static QDQ int8 (per-channel weights, MinMax calibration) — the same code as scout-edge models build."""
    import cv2
    import numpy as np

    from edge_runtime.vision.quantize import calibration_photos, quantize_detector

    frames = None
    if calibration is not None:
        paths = sorted(p for p in calibration.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
        frames = [
            np.asarray(img, dtype=np.uint8) for p in paths if (img := cv2.imread(str(p), cv2.IMREAD_COLOR)) is not None
        ]
        if not frames:
            raise fail(Exit.USAGE, "error", f"no readable photos in {calibration}")
    photos = frames if frames is not None else calibration_photos()
    with progress("photos") as bar:
        task = bar.add_task("calibrating on photos", total=len(photos))
        quantize_detector(fp32, out, photos, on_photo=lambda: bar.advance(task))
    sys.stdout.write(f"{out} ({out.stat().st_size:,} bytes; fp32 {fp32.stat().st_size:,})\n")


@app.command("evaluate")
def models_evaluate(
    fp32: Annotated[Path, typer.Option(help="The fp32 detector")],
    int8: Annotated[Path, typer.Option(help="The int8 detector")],
    out: Annotated[Path, typer.Option(help="Folder for report.json and chart.png")],
    labels: Annotated[Path | None, typer.Option(help="JSON: photo name → [[x, y, w, h], …] (normalised)")] = None,
    runs: Annotated[int, typer.Option(help="Timed inferences per model")] = 20,
) -> None:
    """fp32 vs int8 on the held-out photos: size, latency p50/p95 (one thread), agreement; exit 1 if it fails."""
    from bundle_tooling.chart import draw
    from edge_runtime.vision.build import held_out_photos
    from edge_runtime.vision.detector import Box
    from edge_runtime.vision.evaluate import evaluate_detectors

    truth = None
    if labels is not None:
        raw = json.loads(labels.read_text("utf-8"))
        truth = {name: [Box(b[0], b[1], b[2], b[3], score=1.0) for b in boxes] for name, boxes in raw.items()}
    with progress("steps") as bar:
        bar.add_task("evaluating fp32 vs int8", total=None)
        report = evaluate_detectors(fp32, int8, held_out_photos(), labels=truth, runs=runs, latency_photo="t1.jpg")
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    draw(report, out / "chart.png")
    verdict = report["verdict"]
    for check, ok in verdict["checks"].items():
        sys.stdout.write(f"{'pass' if ok else 'FAIL'}  {check}\n")
    sys.stdout.write(f"{out / 'report.json'}, {out / 'chart.png'}: {'PASS' if verdict['pass'] else 'FAIL'}\n")
    if not verdict["pass"]:
        raise typer.Exit(int(Exit.DIFFERENT))


@app.command("sign")
def models_sign(
    model: Annotated[Path, typer.Option(help="The model: an ONNX file, or a Vosk model directory")],
    name: Annotated[str, typer.Option(help="Bundle name, e.g. centerface")],
    kind: Annotated[str, typer.Option(help="detector, vad or stt")],
    version: Annotated[str, typer.Option(help="Bundle version, e.g. 2.0.0")],
    out: Annotated[Path, typer.Option(help="The archive to write (.tar.gz)")],
    key: KeyOpt = None,
    evaluation: Annotated[Path | None, typer.Option(help="report.json of `scout models evaluate`")] = None,
    quantization: Annotated[str | None, typer.Option(help="How the model was quantized")] = None,
    reference_input: Annotated[Path | None, typer.Option(help=".npz of every input (non-detector ONNX)")] = None,
    reference_wav: Annotated[Path | None, typer.Option(help="WAV for an stt bundle's health check")] = None,
) -> None:
    """Make and sign a bundle: files, manifest (hashes, input spec, evaluation), health reference, signature."""
    from bundle_tooling.make import evaluation_summary, load_report, make_bundle
    from scout_bundles.signing import load_private

    if kind not in ("detector", "vad", "stt"):
        raise fail(Exit.USAGE, "error", f"--kind must be detector, vad or stt, not {kind!r}")
    with _bundle_errors():
        report = evaluation_summary(load_report(evaluation)) if evaluation else None
        if quantization is None and report is not None:
            quantization = "static QDQ, per-channel int8 weights, uint8 activations, MinMax calibration"
        manifest = make_bundle(
            model, name=name, kind=kind, version=version, private=load_private(key), out=out,  # type: ignore[arg-type]
            evaluation=report, quantization=quantization, reference_input=reference_input,
            reference_wav=reference_wav,
        )  # fmt: skip
    sys.stdout.write(f"{out}: {manifest.label}, {len(manifest.files)} files, {manifest.total_bytes:,} bytes\n")


@app.command("publish")
def models_publish(
    archive: Annotated[Path, typer.Argument(help="A bundle made by `scout models sign`")],
    channel: Annotated[str, typer.Option(help="canary, stable, …")],
    registry: Annotated[str, typer.Option(help="The registry folder (serve it with any static HTTP server)")],
    key: KeyOpt = None,
) -> None:
    """Check the bundle with the signing key, copy it into the registry and point the channel at it."""
    from scout_bundles.archive import verify_archive
    from scout_bundles.registry import publish
    from scout_bundles.signing import TrustedKeys, load_private, public_text

    if registry.startswith(("http://", "https://")):
        raise fail(
            Exit.USAGE, "error", "publish writes a registry folder; sync that folder to the web server that serves it"
        )
    with _bundle_errors():
        private = load_private(key)
        verified = verify_archive(archive, TrustedKeys.parse([public_text(private)]), 1 << 40)
        entry = publish(Path(registry), archive, verified.manifest, channel, private)
    sys.stdout.write(f"{channel}: {verified.manifest.label} ({entry.archive}, {entry.bytes:,} bytes)\n")


@app.command("promote")
def models_promote(
    version: Annotated[str, typer.Argument(help="The version to promote")],
    name: Annotated[str, typer.Option(help="Bundle name")],
    from_channel: Annotated[str, typer.Option("--from", help="The canary channel")],
    to_channel: Annotated[str, typer.Option("--to", help="The channel to promote to")],
    registry: Annotated[str, typer.Option(help="The registry folder")],
    sink: SinkOpt = None,
    healthy_for_h: Annotated[float, typer.Option(help="Hours each canary must have run the version")] = 24.0,
    min_devices: Annotated[int, typer.Option(help="Canary devices needed")] = 1,
    max_silence_h: Annotated[float, typer.Option(help="Newest heartbeat at most this old")] = 2.0,
    as_of: Annotated[str | None, typer.Option(help="Judge as of this time (RFC 3339; default now)")] = None,
    key: KeyOpt = None,
) -> None:
    """Promote a version only if its canary devices reported it healthy long enough (exit 1 if refused)."""
    from datetime import UTC, datetime

    from bundle_tooling.promote import canary_health
    from scout_bundles.manifest import MODEL_KEY
    from scout_bundles.registry import read_channel, set_channel
    from scout_bundles.signing import load_private

    s = settings(sink=sink)
    with _bundle_errors():
        private = load_private(key)
        entry = read_channel(Path(registry), from_channel).bundles.get(name)
        if entry is None or entry.version != version:
            raise fail(Exit.USAGE, "error", f"{from_channel} does not carry {name} {version}")
    moment = datetime.fromisoformat(as_of) if as_of else None
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # a time without a zone is UTC, as the warehouse stores it
    with handled():
        report = canary_health(
            client(s), MODEL_KEY[entry.kind], f"{name}@{version}", healthy_for_h=healthy_for_h,
            min_devices=min_devices, max_silence_h=max_silence_h, as_of=moment,
        )  # fmt: skip
    table = Table("device", "store", "hours on version", "heartbeats", "unhealthy", "degraded", "bad hours")
    for d in report.devices:
        table.add_row(
            d["device_id"], d["store_id"], f"{d['hours_on_version']}", f"{d['heartbeats']}",
            f"{d['unhealthy']}", f"{d['degraded']}", f"{d['bad_hours']}",
        )  # fmt: skip
    console.print(table)
    if not report.granted:
        for reason in report.reasons:
            errors.print(f"[red]refused:[/red] {reason}", markup=True, highlight=False)
        raise typer.Exit(int(Exit.DIFFERENT))
    set_channel(Path(registry), to_channel, name, entry, private)
    sys.stdout.write(f"promoted {name} {version}: {from_channel} → {to_channel}\n")
