from __future__ import annotations

import json
import re
import subprocess
import sys

import jsonschema
import msgspec
import pytest

from dataflows.simulator import SimConfig, simulate
from scout_contract import (
    FeedbackV1,
    HeartbeatV1,
    SttV1,
    VisualV1,
    as_stt_v1,
    decode_event,
    decode_record_line,
    encode_event,
    encode_record_line,
    ts_millis,
)
from scout_contract.jsonschema import event_json_schema
from tests.factories import T0, feedback, heartbeat, record, stt, visual


@pytest.mark.parametrize(
    ("payload", "kind"),
    [(stt(T0), SttV1), (visual(T0), VisualV1), (heartbeat(T0), HeartbeatV1), (feedback(T0), FeedbackV1)],
)
def test_every_v1_stream_decodes_and_round_trips(payload: dict[str, object], kind: type) -> None:
    ev = decode_event(json.dumps(payload))
    assert isinstance(ev, kind)
    assert ts_millis(ev.ts) == T0
    assert decode_event(encode_event(ev)) == ev


def test_stt_v2_is_read_side_by_side_with_v1() -> None:
    v2 = {**stt(T0), "schema": "scout.stt/2", "speaker": "customer"}
    v2.pop("audio_url")
    ev = decode_event(json.dumps(v2))
    assert type(ev).__name__ == "SttV2"
    v1 = as_stt_v1(ev)  # type: ignore[arg-type]
    assert isinstance(v1, SttV1) and v1.transcript == v2["transcript"] and v1.audio_url is None
    assert isinstance(decode_event(json.dumps(stt(T0))), SttV1)


def test_deprecated_audio_url_stays_accepted() -> None:
    ev = decode_event(json.dumps(stt(T0, audio_url="s3://bucket/a.wav")))
    assert isinstance(ev, SttV1) and ev.audio_url == "s3://bucket/a.wav"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ts": "2025-05-19T08:00:00"}, "timezone"),
        ({"duration_ms": "long"}, "duration_ms"),
        ({"schema": "scout.smell/1"}, "schema"),
    ],
)
def test_contract_errors_name_the_problem(change: dict[str, object], message: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=message):
        decode_event(json.dumps({**stt(T0), **change}))


def test_missing_required_field_is_rejected() -> None:
    payload = stt(T0)
    del payload["store_id"]
    with pytest.raises(msgspec.ValidationError, match="store_id"):
        decode_event(json.dumps(payload))


def test_json_schema_accepts_simulated_events_and_rejects_bad_ones() -> None:
    validator = jsonschema.Draft202012Validator(event_json_schema())
    seen = set()
    cfg = SimConfig(stores=1, devices_per_store=1, hours=1, malformed_rate=0, silent_devices=0, seed=5)
    for rec in simulate(cfg):
        obj = json.loads(rec.value)
        validator.validate(obj)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", obj["ts"]), obj["ts"]
        seen.add(obj["schema"])
    assert seen == {"scout.stt/1", "scout.visual/1", "scout.heartbeat/1", "scout.feedback/1"}
    assert not validator.is_valid({**heartbeat(T0), "outbox_depth": "many"})


def test_record_line_carries_raw_payloads_exactly() -> None:
    for value in (b"{truncated", b"\xff\xfe binary", b'"just a string"', json.dumps(stt(T0)).encode()):
        rec = record(value)
        back = decode_record_line(encode_record_line(rec))
        assert back == rec


def test_contract_imports_no_engine() -> None:
    code = (
        "import sys, scout_contract, scout_contract.jsonschema, scout_contract.topics;"
        "bad = [m for m in ('bytewax', 'onnxruntime', 'clickhouse_connect', 'chdb') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
