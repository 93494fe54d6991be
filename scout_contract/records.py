"""The file form of a topic (SPEC §2): one Kafka record per JSON line.

``value`` is either the event object itself or a string holding the payload
exactly as a broker delivered it, so a file can carry malformed payloads.
A payload that is not even UTF-8 cannot live in a JSON string; it is carried
as ``"value_b64"`` (base64) instead of ``value`` — this project's extension.
A key that is not UTF-8 likewise travels as ``"key_b64"``.

>>> line = (b'{"topic": "eh-pi-stt-raw", "partition": 0, "offset": 3,'
...         b' "timestamp_ms": 1747641601250, "key": "SCOUTPI-0006", "value": "{oops"}')
>>> rec = decode_record_line(line)
>>> rec.offset, rec.value
(3, b'{oops')
>>> decode_record_line(encode_record_line(rec)) == rec
True

Whatever a line holds, decoding either returns a record or raises
:class:`EnvelopeError` (never another exception):

>>> decode_record_line(b'{"topic": "t", "partition": 99999999999, "offset": 0, "timestamp_ms": 0}')
Traceback (most recent call last):
...
scout_contract.records.EnvelopeError: envelope: Expected `int` <= 2147483647 - at `$.partition`
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

import msgspec

#: Largest values the envelope's columns hold (ClickHouse ``Int32``, ``Int64``,
#: ``DateTime64(3)`` up to 2299-12-31): a record outside them is quarantined, never inserted.
PARTITION_MAX = 2**31 - 1
OFFSET_MAX = 2**63 - 1
TIMESTAMP_MS_MAX = 10_413_791_999_999
#: Kafka's own limit on a topic name's length.
TOPIC_MAX_LENGTH = 249

#: A file may start with a UTF-8 byte order mark (some editors write one); it is not data.
UTF8_BOM = b"\xef\xbb\xbf"


class EnvelopeError(ValueError):
    """A record whose envelope (topic, partition, offset, timestamp, key) cannot be used."""


class SourceRecord(msgspec.Struct, frozen=True):
    """One record as every source adapter (file, Kafka) hands it to the dataflow.

    ``envelope_error`` is set by a source for a record it could not read as a
    record (a broken file line, a key that is not UTF-8, ...): ``value`` then
    holds the raw bytes as received and validation quarantines it.
    """

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: str | None
    value: bytes
    envelope_error: str | None = None


class _FileLine(msgspec.Struct, omit_defaults=True):
    topic: Annotated[str, msgspec.Meta(min_length=1, max_length=TOPIC_MAX_LENGTH)]
    partition: Annotated[int, msgspec.Meta(ge=0, le=PARTITION_MAX)]
    offset: Annotated[int, msgspec.Meta(ge=0, le=OFFSET_MAX)]
    timestamp_ms: Annotated[int, msgspec.Meta(ge=0, le=TIMESTAMP_MS_MAX)]
    key: str | None = None
    key_b64: str | None = None
    value: msgspec.Raw = msgspec.Raw(b"null")
    value_b64: str | None = None


_line_decoder = msgspec.json.Decoder(_FileLine)
_str_decoder = msgspec.json.Decoder(str)
_encoder = msgspec.json.Encoder()


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise EnvelopeError(f"{what} is not valid base64: {exc}") from exc


def decode_record_line(line: bytes | str) -> SourceRecord:
    """Parse one line of a topic file; the value itself is never inspected.

    Raises :class:`EnvelopeError` — and nothing else — when the line is not a
    usable record: not JSON, not UTF-8, nested too deep, a field missing or
    out of its column's range, bad base64, a key that is not UTF-8.
    """
    try:
        rec = _line_decoder.decode(line)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise EnvelopeError(f"envelope: {exc}") from exc
    except (UnicodeError, RecursionError) as exc:  # msgspec re-raises these from string and depth checks
        raise EnvelopeError(f"envelope: {type(exc).__name__}: {exc}") from exc
    key = rec.key
    if rec.key_b64 is not None:
        try:
            key = _b64(rec.key_b64, "key_b64").decode("utf-8")
        except UnicodeDecodeError as exc:
            raise EnvelopeError("the record key is not UTF-8") from exc
    if rec.value_b64 is not None:
        raw = _b64(rec.value_b64, "value_b64")
    else:
        raw = bytes(rec.value)
        if raw[:1] == b'"':
            try:
                raw = _str_decoder.decode(raw).encode("utf-8")
            except (msgspec.DecodeError, UnicodeError) as exc:  # msgspec.Raw is not checked for UTF-8
                raise EnvelopeError(f"value string: {type(exc).__name__}: {exc}") from exc
    return SourceRecord(rec.topic, rec.partition, rec.offset, rec.timestamp_ms, key, raw)


def _is_json_object(value: bytes) -> bool:
    """A JSON object that can sit inside one line as it is (no raw line breaks)."""
    if value.lstrip()[:1] != b"{" or b"\n" in value or b"\r" in value:
        return False
    try:
        msgspec.json.decode(value)
    except (msgspec.DecodeError, UnicodeError, RecursionError):
        return False
    return True


def encode_record_line(record: SourceRecord) -> bytes:
    """Encode a record as one file line (no newline); never fails.

    A value that is a JSON object (on one line) is embedded as an object; other
    UTF-8 text is carried as a string; anything else as ``value_b64``. A key that cannot
    be encoded as UTF-8 text (lone surrogates) is carried as ``key_b64``.

    >>> encode_record_line(SourceRecord("t", 0, 1, 2, "k", b"\\xff"))
    b'{"topic":"t","partition":0,"offset":1,"timestamp_ms":2,"key":"k","value_b64":"/w=="}'
    """
    line = _FileLine(record.topic, record.partition, record.offset, record.timestamp_ms)
    key = record.key
    if key is not None:
        try:
            key.encode("utf-8")
            line.key = key
        except UnicodeEncodeError:
            line.key_b64 = base64.b64encode(key.encode("utf-8", "surrogatepass")).decode("ascii")
    value = record.value
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        line.value_b64 = base64.b64encode(value).decode("ascii")
        return _encoder.encode(line)
    if _is_json_object(value):
        line.value = msgspec.Raw(value)
    else:
        line.value = msgspec.Raw(_encoder.encode(text))
    return _encoder.encode(line)
