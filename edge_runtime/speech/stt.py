"""Speech-to-text engines. Vosk is the default; any engine with the :class:`SttEngine` shape plugs in.

An engine receives one speech segment (16-bit mono PCM at its sample rate)
and returns a :class:`Transcript` with word timings relative to the segment.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from edge_runtime.errors import ModelLoadError


@dataclass(frozen=True, slots=True)
class TimedWord:
    text: str
    start_ms: int
    end_ms: int
    confidence: float


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    words: list[TimedWord] = field(default_factory=list)
    #: Mean word confidence (0 when no word was recognised).
    confidence: float = 0.0
    #: Seconds the engine took, for the real-time factor.
    compute_s: float = 0.0


class SttEngine(Protocol):
    name: str
    model_version: str

    def transcribe(self, samples: npt.NDArray[np.int16]) -> Transcript: ...


def parse_vosk_result(payload: str) -> Transcript:
    """Vosk's JSON result (``SetWords(True)``) → :class:`Transcript`.

    >>> t = parse_vosk_result('{"result": [{"conf": 0.5, "start": 0.1, "end": 0.4, "word": "hi"}], "text": "hi"}')
    >>> t.text, t.words[0].start_ms, t.words[0].end_ms, t.confidence
    ('hi', 100, 400, 0.5)
    >>> parse_vosk_result('{"text": ""}').words
    []
    """
    data = json.loads(payload)
    words = [
        TimedWord(
            text=str(w["word"]),
            start_ms=round(float(w["start"]) * 1000),
            end_ms=round(float(w["end"]) * 1000),
            confidence=min(1.0, max(0.0, float(w.get("conf", 0.0)))),
        )
        for w in data.get("result", [])
    ]
    confidence = sum(w.confidence for w in words) / len(words) if words else 0.0
    return Transcript(text=str(data.get("text", "")).strip(), words=words, confidence=confidence)


class VoskEngine:
    """Kaldi models through Vosk; the model directory is deployed to the device."""

    name = "vosk"

    def __init__(self, model_dir: Path, model_version: str | None = None, sample_rate: int = 16_000) -> None:
        import vosk

        if not (model_dir / "am").is_dir() and not (model_dir / "conf").is_dir():
            raise ModelLoadError(f"not a Vosk model directory: {model_dir}")
        vosk.SetLogLevel(-1)
        try:
            self._model = vosk.Model(str(model_dir))
        except Exception as exc:  # vosk raises a bare Exception on a bad model
            raise ModelLoadError(f"cannot load Vosk model {model_dir}: {exc}") from exc
        self.sample_rate = sample_rate
        self.model_version = (
            model_version or f"vosk-{model_dir.parent.name if model_dir.name == 'model' else model_dir.name}"
        )
        # one recognizer, reused: FinalResult() resets it, and building one costs more than a short segment
        self._recognizer = vosk.KaldiRecognizer(self._model, sample_rate)
        self._recognizer.SetWords(True)
        # Vosk keeps counting time across utterances of one recognizer: rebase words on each segment
        self._fed_samples = 0

    def transcribe(self, samples: npt.NDArray[np.int16]) -> Transcript:
        start = time.perf_counter()
        offset_ms = self._fed_samples * 1000 / self.sample_rate
        self._recognizer.AcceptWaveform(np.ascontiguousarray(samples, dtype="<i2").tobytes())
        self._fed_samples += samples.size
        result = parse_vosk_result(self._recognizer.FinalResult())
        words = [
            TimedWord(w.text, max(0, round(w.start_ms - offset_ms)), max(0, round(w.end_ms - offset_ms)), w.confidence)
            for w in result.words
        ]
        return Transcript(result.text, words, result.confidence, time.perf_counter() - start)
