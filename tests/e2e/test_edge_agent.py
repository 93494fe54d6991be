"""The agent as a user runs it: `scout-edge run` on a recording → events → the real dataflow on chDB.

Files stand in for the camera and microphone (a video made of real photos,
Korean speech from espeak-ng); the publisher writes the topic-file form,
which `scout run` reads exactly as it reads Kafka. So the test proves that
what the device produces passes the cloud side's quality rules.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from scout_contract.records import decode_record_line
from tests.e2e.conftest import Scout
from tests.edge_fixtures import KOREAN_SENTENCES, VIDEO_BRANDS, VIDEO_FPS, VIDEO_SCRIPT
from tests.kafka_broker import free_port

pytestmark = pytest.mark.slow


def write_config(tmp_path: Path, face_models: Path, video: Path | str, wav: Path | str, **extra: str) -> Path:
    cfg = tmp_path / "edge.toml"
    lines = [
        'device_id = "SCOUTPI-0042"',
        'store_id = "STORE-0042"',
        f'models_dir = "{face_models}"',
        'file_clock_start = "2026-11-01T09:00:00+08:00"',
        "exit_when_done = true",
        "heartbeat_interval_s = 1",
        *(f"{k} = {v}" for k, v in extra.items()),
        "[camera]",
        f'source = "{video}"',
        f"analyse_fps = {VIDEO_FPS}",
        "[vision]",
        'zones = [{name = "counter", polygon = [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]}]',
        "brands = {enabled = true, every_n_frames = 1}",
        "[microphone]",
        f'source = "{wav}"',
        "[outbox]",
        'path = "outbox.sqlite3"',
        "[publisher]",
        'kind = "file"',
        'file = "published.jsonl"',
    ]
    cfg.write_text("\n".join(lines) + "\n")
    return cfg


def scout_edge(
    *args: str, cwd: Path, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge_runtime.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
        check=False, env={**os.environ, **(env or {})},
    )  # fmt: skip


def published(path: Path, writing: bool = False) -> list[dict[str, Any]]:
    """The events of a topic file the agent published. ``writing``: the agent may be writing it now, so
    a last line without its newline is not read yet (a poll once read half a record and failed)."""
    data = path.read_bytes()
    if writing:
        data = data[: data.rfind(b"\n") + 1]
    out = []
    for line in data.splitlines():
        rec = decode_record_line(line)
        out.append({"topic": rec.topic, "key": rec.key, **json.loads(rec.value)})
    return out


def test_agent_turns_recordings_into_events_the_dataflow_accepts(
    tmp_path: Path, face_models: Path, photo_video: Path, korean_wav: Path
) -> None:
    cfg = write_config(tmp_path, face_models, photo_video, korean_wav)
    proc = scout_edge("run", "--config", str(cfg), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    events = published(tmp_path / "published.jsonl")
    by_schema: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        by_schema.setdefault(str(e["schema"]), []).append(e)
    visual = by_schema["scout.visual/1"]
    faces = [[d for d in v["detections"] if d["label"] == "face"] for v in visual]
    assert [len(f) for f in faces] == [n for _, _, n in VIDEO_SCRIPT]
    brands = [{d["label"].removeprefix("brand:") for d in v["detections"] if d["label"] != "face"} for v in visual]
    assert brands == VIDEO_BRANDS
    assert len(by_schema["scout.stt/1"]) == KOREAN_SENTENCES
    beats = by_schema["scout.heartbeat/1"]
    assert beats and beats[-1]["status"] == "ok"
    # one clock for the whole run: heartbeats of a replayed recording carry its file clock, not today's date
    start = datetime.fromisoformat("2026-11-01T09:00:00+08:00")
    newest = max(datetime.fromisoformat(e["ts"]) for e in visual + by_schema["scout.stt/1"])
    assert all(start <= datetime.fromisoformat(b["ts"]) <= newest for b in beats), [b["ts"] for b in beats]
    assert set(beats[-1]["models"]) == {"face", "vad", "stt", "ocr"}
    assert all(e["key"] == "SCOUTPI-0042" for e in events)
    # no pixels, no audio leave the device: small events, no audio_url
    assert max(len(json.dumps(e)) for e in events) < 20_000
    assert all(e.get("audio_url") is None for e in by_schema["scout.stt/1"])
    assert json.loads(scout_edge("outbox", "status", "--config", str(cfg), cwd=tmp_path).stdout)["depth"] == 0

    scout = Scout(tmp_path)
    scout.run(tmp_path / "published.jsonl")
    counts = {
        t: scout.query(f"SELECT count() AS n FROM {t}")[0]["n"]
        for t in ("bronze_stt_raw", "bronze_visual_stream", "bronze_device_heartbeat", "quarantine_events")
    }
    assert counts == {
        "bronze_stt_raw": KOREAN_SENTENCES,
        "bronze_visual_stream": len(VIDEO_SCRIPT),
        "bronze_device_heartbeat": len(beats),
        "quarantine_events": 0,
    }
    # the brand read on the shelf reaches the gold brand table the dashboards show
    seen = scout.query("SELECT brand, sightings FROM gold_brand_performance FINAL WHERE sightings > 0")
    assert seen == [{"brand": "nescafe", "sightings": 1}]


def test_missing_camera_is_reported_not_crash_looped(tmp_path: Path, face_models: Path, korean_wav: Path) -> None:
    """Also run as systemd runs the unit (``Type=notify``, ``WatchdogSec``): it says READY, feeds the watchdog
    while the microphone worker makes progress (the camera worker has failed: not stuck), says STOPPING."""
    import socket

    cfg = write_config(tmp_path, face_models, tmp_path / "no-such-video.avi", korean_wav)
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    try:
        env = {"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "1000000"}
        proc = scout_edge("run", "--config", str(cfg), cwd=tmp_path, env=env)
        notify.setblocking(False)
        said = []
        while True:
            try:
                said.append(notify.recv(64).decode())
            except BlockingIOError:
                break
    finally:
        notify.close()
    assert said[0] == "READY=1" and said[-1] == "STOPPING=1" and "WATCHDOG=1" in said, said
    assert proc.returncode == 1
    assert "video file not found" in proc.stderr
    beats = [e for e in published(tmp_path / "published.jsonl") if e["schema"] == "scout.heartbeat/1"]
    assert beats[-1]["status"] == "degraded"
    assert any("video file not found" in p for p in beats[-1]["problems"])
    # speech still worked
    assert sum(e["schema"] == "scout.stt/1" for e in published(tmp_path / "published.jsonl")) == KOREAN_SENTENCES


def test_live_agent_backs_off_on_a_broken_model_and_stops_cleanly(
    tmp_path: Path, face_models: Path, photo_video: Path, korean_wav: Path
) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (models / "centerface_640x448.int8.onnx").write_bytes(b"corrupt")
    cfg = write_config(tmp_path, models, photo_video, korean_wav)
    text = cfg.read_text().replace("exit_when_done = true", "exit_when_done = false")
    cfg.write_text(text.replace('source = "' + str(korean_wav) + '"', 'source = "' + str(korean_wav) + '"'))
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge_runtime.cli", "run", "--config", str(cfg), "--metrics-port", str(port)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(6)
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    failures = [json.loads(line) for line in err.splitlines() if '"worker failed"' in line]
    # 1 s, 2 s, 4 s backoff: at most 4 attempts in 6 s, not a tight loop
    assert 2 <= len(failures) <= 4, failures
    assert all("cannot load face model" in f["error"] for f in failures)
    stopped = [json.loads(line) for line in err.splitlines() if '"agent stopped"' in line]
    assert stopped and stopped[0]["outbox_left"] == 0
    beats = [e for e in published(tmp_path / "published.jsonl") if e["schema"] == "scout.heartbeat/1"]
    assert any(b["status"] == "degraded" for b in beats)
    restarts = re.search(r'scout_edge_worker_restarts_total\{worker="vision"\} (\S+)', metrics)
    assert restarts and float(restarts.group(1)) >= 1
    assert re.search(r"scout_edge_speech_segments_total \S+", metrics)


def test_cli_errors_are_clear(tmp_path: Path) -> None:
    proc = scout_edge("run", "--config", str(tmp_path / "missing.toml"), cwd=tmp_path)
    assert proc.returncode == 2 and "config file not found" in proc.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text('device_id = "A"\n')
    proc = scout_edge("run", "--config", str(bad), cwd=tmp_path)
    assert proc.returncode == 2 and "store_id" in proc.stderr
