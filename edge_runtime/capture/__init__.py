"""Capture adapters: frames from a camera or a video file, audio from a microphone or a WAV file."""

from __future__ import annotations

from edge_runtime.errors import CaptureError

__all__ = ["CaptureError"]
