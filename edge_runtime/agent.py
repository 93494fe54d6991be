"""The device agent: capture → models → outbox → publisher, as a supervised set of worker threads.

Workers: ``vision`` (camera → faces → visual events), ``speech`` (microphone
→ VAD → STT → stt events), ``heartbeat`` and ``publisher``. onnxruntime and
Vosk release the GIL while they compute, so threads suffice on a 4-core Pi.

Supervision: a worker that raises is restarted after an exponential backoff
(1 s doubling to 5 min), so a missing camera or a broken model file gives one
log line and one heartbeat problem per attempt, not a crash loop that fills
the disk. With ``exit_when_done`` (file sources) a failed capture is final.
A file source that ends marks its worker *done*.

Models from bundles (``vision.bundle``, ``[updates]``): at start an
unfinished update is rolled back; an ``updater`` worker polls the channel and
installs new versions; the vision worker takes a new detector between two
frames (:meth:`Agent.reload_face`), so events do not pause.

Event time: with file sources and ``file_clock_start``, heartbeats are stamped
on the same file clock as the events (the newest event time so far), so a
recording from weeks ago does not mix its own time with today's.

Under systemd (:mod:`edge_runtime.service`): ``READY=1`` once the workers are started, then the
watchdog is fed while no running capture worker is stuck — each pulses with every frame or audio
chunk it reads, and one silent for a watchdog interval (a camera read that never returns) stops the
feeding, so systemd restarts the agent; ``STOPPING=1`` at shutdown.

Shutdown (SIGTERM/SIGINT or sources done): capture workers stop, a last
heartbeat is written, the publisher drains for up to ``drain_grace_s``;
whatever is left stays in the outbox for the next start.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, TypeVar

import structlog

from edge_runtime import metrics
from edge_runtime.bundles.store import ModelStore
from edge_runtime.capture.audio import AudioChunk, MicrophoneSource, WavSource
from edge_runtime.capture.video import VideoSource
from edge_runtime.config import EdgeConfig
from edge_runtime.delivery.drain import drain_forever
from edge_runtime.delivery.outbox import Outbox, OutboxItem
from edge_runtime.delivery.publishers import make_publisher
from edge_runtime.errors import CaptureError, ModelLoadError
from edge_runtime.events import EventClock, EventFactory
from edge_runtime.heartbeat import HealthProbe
from edge_runtime.service import ServiceNotifier
from edge_runtime.version import software_version
from scout_bundles.files import sha256_of
from scout_bundles.manifest import FILES, Manifest
from scout_contract.events import HeartbeatV1, SttV1, VisualV1, encode_event

if TYPE_CHECKING:
    from edge_runtime.bundles.updater import Updater
    from edge_runtime.vision.detector import FaceDetector
    from edge_runtime.vision.watcher import Watcher

log = structlog.get_logger(__name__)

MAX_RESTART_BACKOFF_S = 300.0

T = TypeVar("T")


@dataclass
class WorkerState:
    name: str
    state: str = "starting"  # running | done | failing | failed | stopped
    problem: str | None = None
    restarts: int = 0
    #: monotonic time of the worker's last sign of progress (a frame or chunk read; its (re)start)
    pulse: float = field(default_factory=time.monotonic)


@dataclass
class Supervisor:
    stop: threading.Event
    final_failures: bool
    states: dict[str, WorkerState] = field(default_factory=dict)
    threads: dict[str, threading.Thread] = field(default_factory=dict)

    def spawn(self, name: str, body: Callable[[], None], *, restart: bool = True) -> None:
        state = self.states[name] = WorkerState(name)

        def run() -> None:
            backoff = 1.0
            while not self.stop.is_set():
                state.state, state.pulse = "running", time.monotonic()
                try:
                    body()
                except Exception as exc:  # any failure (cv2.error, a Vosk error…) is supervised, never fatal
                    known = isinstance(exc, CaptureError | ModelLoadError)
                    state.problem = f"{name}: {exc}" if known else f"{name}: {type(exc).__name__}: {exc}"
                    log.error(
                        "worker failed", worker=name, error=str(exc), kind=type(exc).__name__,
                        restarts=state.restarts, exc_info=not known,
                    )  # fmt: skip
                    if self.final_failures or not restart:
                        state.state = "failed"
                        return
                    state.state = "failing"
                    state.restarts += 1
                    metrics.WORKER_RESTARTS.labels(name).inc()
                    self.stop.wait(backoff)
                    backoff = min(backoff * 2, MAX_RESTART_BACKOFF_S)
                    continue
                state.state = "stopped" if self.stop.is_set() else "done"
                return

        thread = threading.Thread(target=run, name=f"scout-edge-{name}", daemon=True)
        self.threads[name] = thread
        thread.start()

    def problems(self) -> list[str]:
        return [s.problem for s in self.states.values() if s.problem and s.state in ("failing", "failed")]

    def pulse(self, name: str) -> None:
        """The worker made progress (read a frame or an audio chunk)."""
        self.states[name].pulse = time.monotonic()

    def stuck(self, limit_s: float, now: float | None = None) -> list[str]:
        """Running workers without progress for ``limit_s`` (a worker backing off or done is not stuck)."""
        now = time.monotonic() if now is None else now
        return [n for n, s in self.states.items() if s.state == "running" and now - s.pulse > limit_s]


def pulsing(supervisor: Supervisor, name: str, items: Iterable[T]) -> Iterator[T]:
    """``items``, with a pulse of worker ``name`` for each one read."""
    for item in items:
        supervisor.pulse(name)
        yield item


class Agent:
    def __init__(self, config: EdgeConfig, *, drain_grace_s: float = 10.0) -> None:
        self.config = config
        self.drain_grace_s = drain_grace_s
        self.stop = threading.Event()
        self.capture_stop = threading.Event()
        self.outbox = Outbox(
            config.outbox.path,
            budget_bytes=int(config.outbox.budget_mb * 2**20),
            synchronous=config.outbox.synchronous,
        )
        self.factory = EventFactory(config.device_id, config.store_id)
        self.clock = EventClock.parse(config.file_clock_start)
        self.models: dict[str, str] = {}
        self.notes: dict[str, str] = {}
        self.supervisor = Supervisor(self.capture_stop, final_failures=config.exit_when_done)
        self.probe = HealthProbe(config.outbox.path)
        self._heartbeat_seq = 0
        self._newest_event: datetime | None = None
        self._face_lock = threading.Lock()
        self._watcher: Watcher | None = None
        self.face_store = (
            ModelStore(config.updates.store, config.vision.bundle, config.updates.keep_versions)
            if config.vision.bundle
            else None
        )
        resolved = self.face_store.resolve() if self.face_store else None
        self.model_update: str | None = resolved.message if resolved else None
        self.updater: Updater | None = None

    # ---- outbox --------------------------------------------------------
    def _put(self, events: list[SttV1 | VisualV1 | HeartbeatV1]) -> None:
        topics = self.config.publisher.topics
        items = []
        for ev in events:
            if isinstance(ev, SttV1):
                topic, stream, priority = topics.stt, "stt", 0
            elif isinstance(ev, VisualV1):
                topic, stream, priority = topics.visual, "visual", 0
            else:
                topic, stream, priority = topics.heartbeat, "heartbeat", 1
            items.append(OutboxItem(topic, ev.device_id, ev.event_id, encode_event(ev), priority))
            metrics.EVENTS.labels(stream).inc()
            if stream != "heartbeat" and (self._newest_event is None or ev.ts > self._newest_event):
                self._newest_event = ev.ts
        self.outbox.put(items)
        metrics.OUTBOX_DEPTH.set(self.outbox.depth())

    # ---- workers -------------------------------------------------------
    def _face_model(self) -> tuple[Path, str]:
        """The detector to run: the installed bundle's, else ``vision.model``; with its version label."""
        cfg = self.config
        if self.face_store is not None and (manifest := self.face_store.current_manifest()) is not None:
            path = self.face_store.model_path()
            assert path is not None
            return path, manifest.label
        model = cfg.model_path(cfg.vision.model)
        return model, cfg.vision.model_version or f"centerface-{sha256_of(model)[:12]}"

    def _detector(self, path: Path) -> FaceDetector:
        from edge_runtime.vision.detector import FaceDetector

        v = self.config.vision
        return FaceDetector(path, threshold=v.threshold, nms_iou=v.nms_iou, threads=v.threads)

    def reload_face(self, folder: Path, manifest: Manifest) -> None:
        """Load a newly installed detector and hand it to the running watcher (between two frames).

        Raises if it does not load: the store then rolls back, and the old detector never stopped.
        """
        detector = self._detector(folder / FILES / manifest.model)
        with self._face_lock:
            if self._watcher is not None:
                self._watcher.detector = detector
                self._watcher.model_version = manifest.label
            self.models["face"] = manifest.label

    def _vision(self) -> None:
        from edge_runtime.vision.watcher import Watcher
        from edge_runtime.vision.zones import Zones

        cfg = self.config
        with self._face_lock:
            model, model_version = self._face_model()
            detector = self._detector(model)
            self.models["face"] = model_version
        source = VideoSource(cfg.camera.source, cfg.camera.analyse_fps)
        clock = self.clock if source.is_file else EventClock.live()
        zones = Zones([(z.name, z.polygon) for z in cfg.vision.zones])
        brands = cfg.vision.brands
        reader = None
        if brands.enabled:
            from edge_runtime.vision.brands import BrandCatalog, BrandReader, load_catalog

            catalog = BrandCatalog(brands.catalog or load_catalog(), brands.min_similarity)
            reader = BrandReader(catalog, threads=cfg.vision.threads, min_text_score=brands.min_text_score)
            self.models["ocr"] = "pp-ocrv4-rapidocr"
        with self._face_lock:
            watcher = self._watcher = Watcher(
                detector,
                zones,
                self.factory,
                clock,
                model_version=self.models["face"],
                identical_threshold=cfg.camera.identical_threshold,
                brand_reader=reader,
                brand_every=brands.every_n_frames,
            )
            if self.models["face"] != model_version:  # an update landed while this worker was starting
                model, _ = self._face_model()
                watcher.detector = self._detector(model)
        try:
            for event in watcher.watch(pulsing(self.supervisor, "vision", source)):
                metrics.FRAMES.inc()
                metrics.INFERENCE_MS.observe(watcher.detector.last_inference_ms)
                self._put([event])
                if self.capture_stop.is_set():
                    break
            metrics.FRAMES_SKIPPED.inc(watcher.stats.skipped_identical)
        finally:
            with self._face_lock:
                self._watcher = None
            source.close()

    def _speech(self) -> None:
        from edge_runtime.speech.listener import Listener
        from edge_runtime.speech.stt import VoskEngine
        from edge_runtime.speech.vad import SileroVad, SpeechSegmenter

        cfg, sp = self.config, self.config.speech
        vad_path = cfg.model_path(sp.vad_model)
        vad = SileroVad(vad_path, cfg.microphone.sample_rate)
        engine = VoskEngine(cfg.model_path(sp.stt_model), sp.stt_model_version, cfg.microphone.sample_rate)
        self.models["vad"] = f"silero-{sha256_of(vad_path)[:12]}"
        self.models["stt"] = engine.model_version
        mic = cfg.microphone
        source: WavSource | MicrophoneSource
        if isinstance(mic.source, str) and mic.source.lower().endswith(".wav"):
            source = WavSource(Path(mic.source), mic.sample_rate, mic.chunk_ms)
        else:
            source = MicrophoneSource(mic.source, mic.sample_rate, mic.chunk_ms)
        clock = self.clock if source.is_file else EventClock.live()
        segmenter = SpeechSegmenter(
            window=vad.window,
            sample_rate=mic.sample_rate,
            threshold=sp.vad_threshold,
            min_speech_ms=sp.min_speech_ms,
            min_silence_ms=sp.min_silence_ms,
            pad_ms=sp.speech_pad_ms,
            max_segment_ms=int(sp.max_segment_s * 1000),
        )
        listener = Listener(vad, segmenter, engine, self.factory, clock, lang=sp.lang, sample_rate=mic.sample_rate)

        def chunks() -> Iterator[AudioChunk]:
            for chunk in pulsing(self.supervisor, "speech", source):
                if self.capture_stop.is_set():
                    return
                yield chunk

        try:
            for event, _ in listener.feed(chunks()):
                metrics.SEGMENTS.inc()
                metrics.STT_RTF.set(listener.stats.rtf)
                self._put([event])
            ratio = source.clipped_ratio
            if ratio > 0.001:
                self.notes["audio"] = f"speech: audio clipped ({ratio:.1%} of samples at full scale)"
            log.info(
                "speech source finished",
                audio_s=round(listener.stats.audio_s, 2),
                segments=listener.stats.segments,
                rtf=round(listener.stats.rtf, 3),
            )
        finally:
            source.close()

    def heartbeat(self) -> HeartbeatV1:
        health = self.probe.read()
        problems = self.supervisor.problems() + list(self.notes.values())
        if self.updater is not None and self.updater.problem:
            problems.append(self.updater.problem)
        if self.outbox.salvaged:
            problems.append(self.outbox.salvaged)
        dropped = self.outbox.dropped()
        if dropped:
            problems.append(f"outbox: dropped oldest events under the disk budget {dropped}")
        self._heartbeat_seq += 1
        return self.factory.heartbeat(
            self._clock_now(),
            self._heartbeat_seq,
            uptime_s=health.uptime_s,
            cpu_pct=health.cpu_pct,
            mem_pct=health.mem_pct,
            cpu_temp_c=health.cpu_temp_c,
            disk_free_mb=health.disk_free_mb,
            outbox_depth=self.outbox.depth(),
            models=dict(self.models),
            sw_version=software_version(),
            interval_s=self.config.heartbeat_interval_s,
            status="degraded" if problems else "ok",
            problems=problems or None,
            model_update=(self.updater.last_outcome if self.updater else None) or self.model_update,
        )

    def _clock_now(self) -> datetime:
        """Now on the run's clock: the file clock when recordings are replayed, else the wall clock."""
        cfg = self.config
        files = (cfg.camera.enabled and isinstance(cfg.camera.source, Path)) or (
            cfg.microphone.enabled and str(cfg.microphone.source).lower().endswith(".wav")
        )
        if cfg.file_clock_start is None or not files:
            return datetime.now(UTC)
        return self._newest_event or self.clock.start

    def _heartbeats(self) -> None:
        while not self.stop.wait(self.config.heartbeat_interval_s):
            self._put([self.heartbeat()])

    def _start_updater(self) -> None:
        from edge_runtime.bundles.updater import Updater

        up, bundle = self.config.updates, self.config.vision.bundle
        assert bundle is not None
        self.updater = Updater.from_config(up, {bundle: self.reload_face})
        updater = self.updater
        threading.Thread(
            target=lambda: updater.run(self.capture_stop, up.poll_interval_s), name="scout-edge-updater", daemon=True
        ).start()

    # ---- lifecycle -----------------------------------------------------
    def request_stop(self, signum: int | None = None, _frame: FrameType | None = None) -> None:
        log.info("stopping", signal=signum)
        self.capture_stop.set()
        self.stop.set()

    def _capture_finished(self) -> bool:
        states = [s for n, s in self.supervisor.states.items() if n in ("vision", "speech")]
        return all(s.state in ("done", "failed", "stopped") for s in states)

    def run(self) -> int:
        """Run until stopped (or, with ``exit_when_done``, until sources end and the outbox is empty).

        Returns 0, or 1 when a worker failed for good.
        """
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self.request_stop)
            signal.signal(signal.SIGINT, self.request_stop)
        cfg = self.config
        if cfg.metrics_port is not None:
            from prometheus_client import start_http_server

            start_http_server(cfg.metrics_port)
        publisher = make_publisher(cfg.publisher)
        publish_stop = threading.Event()
        publisher_thread = threading.Thread(
            target=drain_forever,
            args=(self.outbox, publisher, publish_stop),
            kwargs={"batch": cfg.publisher.batch, "max_backoff_s": cfg.publisher.max_backoff_s},
            name="scout-edge-publisher",
            daemon=True,
        )
        publisher_thread.start()
        if cfg.camera.enabled:
            self.supervisor.spawn("vision", self._vision)
        if cfg.microphone.enabled:
            self.supervisor.spawn("speech", self._speech)
        if cfg.updates.enabled and self.face_store is not None:
            self._start_updater()
        heartbeat_thread = threading.Thread(target=self._heartbeats, name="scout-edge-heartbeat", daemon=True)
        heartbeat_thread.start()
        log.info(
            "agent started",
            device=cfg.device_id,
            store=cfg.store_id,
            publisher=cfg.publisher.kind,
            outbox=str(cfg.outbox.path),
            depth=self.outbox.depth(),
        )
        notifier = ServiceNotifier()
        notifier.ready()
        stuck_reported: list[str] = []
        try:
            while not self.stop.wait(0.2):
                if cfg.exit_when_done and self._capture_finished():
                    break
                stuck = self.supervisor.stuck(notifier.interval_s) if notifier.interval_s else []
                if stuck and stuck != stuck_reported:
                    log.error("capture stuck: the watchdog is no longer fed, systemd restarts the agent",
                              workers=stuck, limit_s=notifier.interval_s)  # fmt: skip
                stuck_reported = stuck
                notifier.feed(well=not stuck)
        finally:
            notifier.stopping()
            self.capture_stop.set()
            for thread in self.supervisor.threads.values():
                thread.join(timeout=30)
            self._put([self.heartbeat()])
            self.stop.set()
            deadline = time.monotonic() + self.drain_grace_s
            while self.outbox.depth() and time.monotonic() < deadline:
                time.sleep(0.1)
            publish_stop.set()
            publisher_thread.join(timeout=cfg.publisher.ack_timeout_s + 10)
            publisher.close()
            left = self.outbox.depth()
            self.outbox.close()
            log.info("agent stopped", outbox_left=left, workers={n: s.state for n, s in self.supervisor.states.items()})
        failed = any(s.state == "failed" for s in self.supervisor.states.values())
        return 1 if failed else 0
