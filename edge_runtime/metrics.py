"""Prometheus metrics of the edge agent (served with ``metrics_port``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

FRAMES = Counter("scout_edge_frames_total", "Frames analysed by the face detector")
FRAMES_SKIPPED = Counter("scout_edge_frames_identical_total", "Frames skipped as identical to the previous one")
INFERENCE_MS = Histogram(
    "scout_edge_inference_ms",
    "Face detector inference time per frame (ms)",
    buckets=(5, 10, 15, 20, 30, 50, 80, 120, 200, 500),
)
STT_RTF = Gauge("scout_edge_stt_rtf", "(VAD + STT compute time) / audio time, since the speech worker started")
SEGMENTS = Counter("scout_edge_speech_segments_total", "Speech segments transcribed")
EVENTS = Counter("scout_edge_events_total", "Events written to the outbox", ["stream"])
OUTBOX_DEPTH = Gauge("scout_edge_outbox_depth", "Events waiting in the outbox")
PUBLISHED = Counter("scout_edge_published_total", "Events acknowledged by the broker")
PUBLISH_ERRORS = Counter("scout_edge_publish_errors_total", "Events a broker did not acknowledge (retried)")
WORKER_RESTARTS = Counter("scout_edge_worker_restarts_total", "Worker restarts after a failure", ["worker"])
