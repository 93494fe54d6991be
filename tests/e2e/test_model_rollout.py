"""Model rollout as it runs on a device: the agent's updater swaps the detector mid-stream, refuses a sick
bundle, and reports both in heartbeats; promotion reads canary heartbeats that went through the dataflow.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edge_runtime.events import EventFactory
from scout_bundles.archive import verify_archive
from scout_bundles.registry import publish, read_channel
from scout_bundles.signing import write_private
from scout_contract.events import encode_event
from scout_contract.records import SourceRecord, encode_record_line
from scout_contract.topics import HEARTBEAT
from tests.e2e.conftest import Scout
from tests.e2e.test_edge_agent import published
from tests.edge_fixtures import Bundles, fit
from tests.edge_runtime.bundles.helpers import members, rebuild, resign

pytestmark = pytest.mark.slow
FPS = 10.0
LIMIT = 50 * 2**20


@pytest.fixture(scope="module")
def busy_counter(tmp_path_factory: pytest.TempPathFactory, photos: dict[str, np.ndarray]) -> Path:
    """A minute of video at 10 fps, alternating two photos: every frame is analysed (none identical)."""
    path = tmp_path_factory.mktemp("busy") / "busy.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), FPS, (640, 360))
    frames = [fit(photos["t1.jpg"], 640, 360), fit(photos["astronaut"], 640, 360)]
    for i in range(600):
        writer.write(frames[i % 2])
    writer.release()
    return path


def _sick(b: Bundles, out: Path, version: str) -> Path:
    """A correctly signed bundle whose model does not reproduce its own reference output."""
    files = members(b.v2) | {"files/health/expected.npz": members(b.v1)["files/health/expected.npz"]}
    return rebuild(out, resign(files, b.key, version=version))


def _visual(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [e for e in published(path, writing=True) if e["schema"] == "scout.visual/1"]


def _wait(what: str, check: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_the_agent_swaps_the_detector_without_a_gap_and_rejects_a_sick_bundle(
    bundles: Bundles, busy_counter: Path, tmp_path: Path
) -> None:
    registry = tmp_path / "registry"
    cfg = tmp_path / "edge.toml"
    lines = [
        'device_id = "SCOUTPI-0042"', 'store_id = "STORE-0042"', f'models_dir = "{bundles.models}"',
        'file_clock_start = "2026-11-01T09:00:00+08:00"', "exit_when_done = true", "heartbeat_interval_s = 1",
        "[camera]", f'source = "{busy_counter}"', f"analyse_fps = {FPS}",
        "[vision]", 'bundle = "centerface"',
        "[microphone]", "enabled = false",
        "[outbox]", 'path = "outbox.sqlite3"',
        "[publisher]", 'kind = "file"', 'file = "published.jsonl"', "batch = 20",
        "[updates]", "enabled = true", f'registry = "{registry}"', 'channel = "canary"',
        "poll_interval_s = 1", f'trusted_keys = ["{bundles.public}"]',
    ]  # fmt: skip
    cfg.write_text("\n".join(lines) + "\n")
    edge = [sys.executable, "-m", "edge_runtime.cli"]
    installed = subprocess.run([*edge, "models", "install", str(bundles.v1), "--config", str(cfg)], check=False,
                               capture_output=True, text=True, timeout=120)  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    out = tmp_path / "published.jsonl"
    agent = subprocess.Popen([*edge, "run", "--config", str(cfg)], cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    try:
        _wait("events from 1.0.0", lambda: len(_visual(out)) >= 20)
        publish(
            registry, bundles.v2, verify_archive(bundles.v2, bundles.trusted, LIMIT).manifest, "canary", bundles.key
        )
        _wait("events from 2.0.0", lambda: any(e["model_version"] == "centerface@2.0.0" for e in _visual(out)))
        sick = _sick(bundles, tmp_path / "sick.tar.gz", "2.1.0")
        publish(registry, sick, verify_archive(sick, bundles.trusted, LIMIT).manifest, "canary", bundles.key)
        _, err = agent.communicate(timeout=300)
    finally:
        agent.kill()
    assert agent.returncode == 0, err
    events = published(out)
    visual = sorted((e for e in events if e["schema"] == "scout.visual/1"), key=lambda e: e["frame_id"])
    versions = [e["model_version"] for e in visual]
    assert versions[0] == "centerface@1.0.0" and versions[-1] == "centerface@2.0.0"
    switch = versions.index("centerface@2.0.0")
    assert set(versions[:switch]) == {"centerface@1.0.0"} and set(versions[switch:]) == {"centerface@2.0.0"}
    # no gap: every frame of the video became an event, one frame interval apart, across the swap
    assert [e["frame_id"] for e in visual] == list(range(visual[0]["frame_id"], visual[0]["frame_id"] + len(visual)))
    times = [datetime.fromisoformat(e["ts"]) for e in visual]
    gaps = {round((b - a).total_seconds(), 3) for a, b in itertools.pairwise(times)}
    assert gaps == {1 / FPS}, gaps
    assert len(visual) == 600
    # faces still found after the swap (the int8 model on the same photos)
    assert all(sum(d["label"] == "face" for d in e["detections"]) >= 1 for e in visual[switch:])
    beats = [e for e in events if e["schema"] == "scout.heartbeat/1"]
    reports = [b.get("model_update") or "" for b in beats]
    assert any(r.startswith("centerface 2.0.0: installed") for r in reports), reports
    assert "centerface 2.1.0: rejected, 2.0.0 stays active: health check" in reports[-1]
    assert beats[-1]["models"]["face"] == "centerface@2.0.0"


def _heartbeats(
    devices: dict[str, str],
    start: datetime,
    hours: int,
    degraded: set[str] = frozenset(),  # type: ignore[assignment]
) -> list[bytes]:
    """Heartbeats every 60 s per device, reporting the detector label given per device."""
    lines: list[bytes] = []
    for n, (device, label) in enumerate(devices.items()):
        factory = EventFactory(device, f"STORE-{n:04d}")
        for i in range(hours * 60):
            ts = start + timedelta(seconds=60 * i + n)
            hb = factory.heartbeat(
                ts, i, uptime_s=60.0 * i, cpu_pct=20.0, mem_pct=30.0, cpu_temp_c=55.0, disk_free_mb=8000.0,
                outbox_depth=0, models={"face": label}, sw_version="0.1.0", interval_s=60.0,
                status="degraded" if device in degraded and i == hours * 30 else "ok",
            )  # fmt: skip
            record = SourceRecord(HEARTBEAT, 0, len(lines), int(ts.timestamp() * 1000), device, encode_event(hb))
            lines.append(encode_record_line(record) + b"\n")
    return lines


@pytest.mark.parametrize(
    ("scenario", "expect"),
    [("healthy", 0), ("one degraded", 1), ("silent", 1), ("too short", 1)],
)
def test_promotion_follows_canary_health_read_through_the_dataflow(
    bundles: Bundles, tmp_path: Path, scenario: str, expect: int
) -> None:
    registry = tmp_path / "registry"
    publish(registry, bundles.v2, verify_archive(bundles.v2, bundles.trusted, LIMIT).manifest, "canary", bundles.key)
    key = tmp_path / "signing.pem"
    write_private(bundles.key, key)
    start = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)
    canary = "centerface@2.0.0" if scenario != "silent" else "centerface@1.0.0"
    devices = {"SCOUTPI-0101": canary, "SCOUTPI-0102": canary, "SCOUTPI-0200": "centerface@1.0.0"}
    hours = 6 if scenario == "too short" else 26
    lines = _heartbeats(devices, start, hours, {"SCOUTPI-0102"} if scenario == "one degraded" else set())
    events = tmp_path / "heartbeats.jsonl"
    events.write_bytes(b"".join(lines))
    scout = Scout(tmp_path)
    scout.run(events)
    as_of = (start + timedelta(hours=hours)).isoformat()
    proc = scout(
        "models", "promote", "2.0.0", "--name", "centerface", "--from", "canary", "--to", "stable",
        "--registry", str(registry), "--sink", scout.sink, "--healthy-for-h", "24", "--min-devices", "2",
        "--as-of", as_of, "--key", str(key), check=False,
    )  # fmt: skip
    assert proc.returncode == expect, proc.stdout + proc.stderr
    stable = read_channel(registry, "stable").bundles
    if expect == 0:
        assert stable["centerface"].version == "2.0.0"
        assert "promoted centerface 2.0.0: canary → stable" in proc.stdout
    else:
        assert "centerface" not in stable
        reason = {
            "one degraded": "SCOUTPI-0102: 1 heartbeat(s) reported degraded",
            "silent": "0 device(s) report centerface@2.0.0; at least 2 needed (silent canary)",
            "too short": "h on centerface@2.0.0, 24.0 h needed",
        }[scenario]
        assert reason in proc.stderr, proc.stderr
