"""Default topic names (SPEC §2); every one is configurable in the dataflow."""

from __future__ import annotations

STT = "eh-pi-stt-raw"
VISUAL = "eh-pi-visual-stream"
HEARTBEAT = "eh-device-heartbeat"
FEEDBACK = "eh-insight-feedback"
ANNOTATED = "eh-pi-annotated-events"
DEAD_LETTER = "scout-dead-letter"
