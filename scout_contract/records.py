"""The file form of a topic (SPEC §2): one Kafka record per JSON line.

``value`` is either the event object itself or a string holding the payload
exactly as a broker delivered it, so a file can carry malformed payloads.
A payload that is not even UTF-8 cannot live in a JSON string; it is carried
as ``"value_b64"`` (base64) instead of ``value`` — this project's extension.

>>> line = (b'{"topic": "eh-pi-stt-raw", "partition": 0, "offset": 3,'
...         b' "timestamp_ms": 1747641601250, "key": "SCOUTPI-0006", "value": "{oops"}')
>>> rec = decode_record_line(line)
>>> rec.offset, rec.value
(3, b'{oops')
>>> decode_record_line(encode_record_line(rec)) == rec
True
"""

from __future__ import annotations

import base64

import msgspec


class SourceRecord(msgspec.Struct, frozen=True):
    """One record as every source adapter (file, Kafka) hands it to the dataflow."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: str | None
    value: bytes


class _FileLine(msgspec.Struct, omit_defaults=True):
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: str | None = None
    value: msgspec.Raw = msgspec.Raw(b"null")
    value_b64: str | None = None


_line_decoder = msgspec.json.Decoder(_FileLine)
_str_decoder = msgspec.json.Decoder(str)
_encoder = msgspec.json.Encoder()


def decode_record_line(line: bytes | str) -> SourceRecord:
    """Parse one line of a topic file. Raises ``msgspec.DecodeError`` or
    ``msgspec.ValidationError`` if the *envelope* is broken (the value itself
    is never inspected here)."""
    rec = _line_decoder.decode(line)
    if rec.value_b64 is not None:
        raw = base64.b64decode(rec.value_b64)
    else:
        raw = bytes(rec.value)
        if raw[:1] == b'"':
            raw = _str_decoder.decode(raw).encode("utf-8")
    return SourceRecord(rec.topic, rec.partition, rec.offset, rec.timestamp_ms, rec.key, raw)


def encode_record_line(record: SourceRecord) -> bytes:
    """Encode a record as one file line (no newline). A value that is a JSON
    object is embedded as an object; anything else is carried as a string."""
    line = _FileLine(record.topic, record.partition, record.offset, record.timestamp_ms, record.key)
    try:
        msgspec.json.decode(record.value)
        is_object = record.value.lstrip()[:1] == b"{"
    except msgspec.DecodeError:
        is_object = False
    if is_object:
        line.value = msgspec.Raw(record.value)
    else:
        try:
            line.value = msgspec.Raw(_encoder.encode(record.value.decode("utf-8")))
        except UnicodeDecodeError:
            line.value_b64 = base64.b64encode(record.value).decode("ascii")
    return _encoder.encode(line)
