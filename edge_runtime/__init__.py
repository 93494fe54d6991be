"""Scout edge runtime (the Raspberry Pi half), CLI ``scout-edge``.

The data's path on the device: :mod:`edge_runtime.capture` (camera/video,
microphone/WAV) → :mod:`edge_runtime.speech` (Silero VAD, Vosk) and
:mod:`edge_runtime.vision` (CenterFace int8, zones) → :mod:`edge_runtime.events`
(contract events from :mod:`scout_contract`) → :mod:`edge_runtime.delivery`
(SQLite outbox, Kafka / Event Hubs / file publishers), run by
:mod:`edge_runtime.agent`. See docs/edge.md.
"""
