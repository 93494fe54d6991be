"""Scout edge runtime (the Raspberry Pi half).

Capture, voice-activity detection, speech-to-text, int8 ONNX vision, the
durable outbox and heartbeats arrive with their own issue. What exists now is
the contract they will produce: :mod:`scout_contract` (events, topic names,
file form), imported by both halves.
"""
