"""The segmenter's rules (plain Python) and the Silero model's behaviour on real audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_runtime.capture import CaptureError
from edge_runtime.capture.audio import WavSource
from edge_runtime.errors import ModelLoadError
from edge_runtime.resources import resolve_model_path
from edge_runtime.speech.vad import Segment, SileroVad, SpeechSegmenter


def segments(probs: list[float], **overrides: int) -> list[Segment]:
    params = {"min_speech_ms": 96, "min_silence_ms": 96, "pad_ms": 0, "max_segment_ms": 30_000} | overrides
    seg = SpeechSegmenter(window=512, sample_rate=16_000, threshold=0.5, **params)
    out = [s for i, p in enumerate(probs) for s in seg.push(i * 512, p)]
    return out + list(seg.flush(len(probs) * 512))


def test_short_blips_are_dropped() -> None:
    assert segments([0.0, 0.9, 0.0, 0.0, 0.0, 0.0]) == []


def test_short_dips_do_not_split_a_segment() -> None:
    assert segments([0.9] * 5 + [0.1] * 2 + [0.9] * 5 + [0.0] * 5) == [Segment(0, 12 * 512)]


def test_hysteresis_keeps_speech_between_thresholds() -> None:
    # 0.4 is below the start threshold but above the end threshold (0.35): still speech
    assert segments([0.9] * 4 + [0.4] * 6 + [0.0] * 4) == [Segment(0, 10 * 512)]


def test_long_speech_is_cut_at_max_segment() -> None:
    got = segments([0.9] * 40, max_segment_ms=512)  # 16 windows of 32 ms
    assert [s.end - s.start for s in got] == [16 * 512, 16 * 512, 8 * 512]


def test_padding_never_overlaps_the_previous_segment() -> None:
    got = segments([0.9] * 5 + [0.0] * 4 + [0.9] * 5 + [0.0] * 4, pad_ms=200)
    assert len(got) == 2 and got[0].start == 0 and got[1].start >= got[0].end


def test_open_segment_is_closed_at_end_of_input() -> None:
    assert segments([0.0] * 3 + [0.9] * 6) == [Segment(3 * 512, 9 * 512)]


def test_silero_scores_speech_above_silence(korean_wav: Path) -> None:
    vad = SileroVad(resolve_model_path("pkg:silero_vad/data/silero_vad.onnx", Path()))
    audio = np.concatenate([c.samples for c in WavSource(korean_wav, 16_000, 512)])
    probs = [vad.probability(audio[i : i + 512]) for i in range(0, audio.size - 512, 512)]
    vad.reset()
    silent = [vad.probability(np.zeros(512, dtype=np.int16)) for _ in range(20)]
    assert max(probs) > 0.9
    assert max(silent) < 0.1
    assert 0.2 < float(np.mean(np.asarray(probs) > 0.5)) < 0.95  # speech and pauses both present


def test_bad_model_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "vad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelLoadError, match="cannot load VAD model"):
        SileroVad(bad)
    with pytest.raises(ModelLoadError, match="not found"):
        SileroVad(tmp_path / "missing.onnx")


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"RIFF....WAVEjunk", "not a readable WAV"), (b"", "not a readable WAV")],
)
def test_broken_wav_is_a_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "broken.wav"
    path.write_bytes(content)
    with pytest.raises(CaptureError, match=message):
        WavSource(path, 16_000, 512)


def test_wrong_sample_rate_says_how_to_convert(tmp_path: Path) -> None:
    import wave

    path = tmp_path / "cd.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44_100)
        w.writeframes(b"\0" * 4000)
    with pytest.raises(CaptureError, match=r"sox in\.wav -r 16000"):
        WavSource(path, 16_000, 512)
    with pytest.raises(CaptureError, match="not found"):
        WavSource(tmp_path / "nope.wav", 16_000, 512)
