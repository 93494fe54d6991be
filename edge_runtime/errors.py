"""Errors the agent turns into a clear message and a heartbeat status, never a crash loop."""

from __future__ import annotations


class CaptureError(RuntimeError):
    """A capture device or file cannot be used (missing, corrupt, wrong format)."""


class ModelLoadError(RuntimeError):
    """A model file is missing, corrupt or not the model we expect."""
