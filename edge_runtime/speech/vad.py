"""Voice-activity detection: Silero VAD (ONNX, onnxruntime directly) and a streaming segmenter.

:class:`SpeechSegmenter` is plain Python over per-window speech
probabilities, so its rules can be tested without a model:

* a segment opens when a window's probability reaches ``threshold``;
* it closes after ``min_silence_ms`` of windows below ``threshold - 0.15``
  (hysteresis), or when it reaches ``max_segment_ms`` (cut and reopened);
* segments shorter than ``min_speech_ms`` are discarded;
* each kept segment is padded by ``pad_ms`` on both sides.

>>> seg = SpeechSegmenter(window=512, sample_rate=16_000, threshold=0.5, min_speech_ms=64,
...                       min_silence_ms=64, pad_ms=0, max_segment_ms=30_000)
>>> probs = [0.0] * 5 + [0.9] * 10 + [0.0] * 5
>>> [s for i, p in enumerate(probs) for s in seg.push(i * 512, p)]
[Segment(start=2560, end=7680)]
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from edge_runtime.errors import ModelLoadError

WINDOW_16K = 512
CONTEXT_16K = 64


@dataclass(frozen=True, slots=True)
class Segment:
    """Speech between two sample positions of the source (end exclusive)."""

    start: int
    end: int


class SpeechSegmenter:
    """Turn a stream of per-window probabilities into speech segments (see module doc)."""

    def __init__(
        self,
        *,
        window: int,
        sample_rate: int,
        threshold: float,
        min_speech_ms: int,
        min_silence_ms: int,
        pad_ms: int,
        max_segment_ms: int,
    ) -> None:
        ms = sample_rate / 1000
        self.window = window
        self.threshold = threshold
        self.neg_threshold = max(threshold - 0.15, 0.01)
        self.min_speech = int(min_speech_ms * ms)
        self.min_silence = int(min_silence_ms * ms)
        self.pad = int(pad_ms * ms)
        self.max_segment = int(max_segment_ms * ms)
        self._start: int | None = None
        self._silence_from: int | None = None
        self._last_end = 0

    @property
    def in_speech(self) -> bool:
        return self._start is not None

    def push(self, position: int, probability: float) -> Iterator[Segment]:
        """Feed the probability of the window starting at sample ``position``."""
        end = position + self.window
        if self._start is None:
            if probability >= self.threshold:
                self._start, self._silence_from = position, None
            return
        if probability >= self.threshold:
            self._silence_from = None
        elif probability < self.neg_threshold and self._silence_from is None:
            self._silence_from = position
        if self._silence_from is not None and end - self._silence_from >= self.min_silence:
            yield from self._close(self._silence_from)
        elif end - self._start >= self.max_segment:
            yield from self._close(end)
            self._start = end if probability >= self.threshold else None

    def flush(self, position: int) -> Iterator[Segment]:
        """End of input at sample ``position``: close an open segment."""
        if self._start is not None:
            yield from self._close(self._silence_from if self._silence_from is not None else position)

    def _close(self, end: int) -> Iterator[Segment]:
        start = self._start
        self._start, self._silence_from = None, None
        if start is None or end - start < self.min_speech:
            return
        padded = Segment(max(self._last_end, start - self.pad, 0), end + self.pad)
        self._last_end = padded.end
        yield padded


class SileroVad:
    """Silero VAD v5/v6 ONNX at 16 kHz: 512-sample windows with 64 samples of context and a recurrent state."""

    def __init__(self, model_path: Path, sample_rate: int = 16_000) -> None:
        if sample_rate != 16_000:
            raise ValueError("Silero VAD is used at 16 kHz here")
        if not model_path.is_file():
            raise ModelLoadError(f"VAD model not found: {model_path}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own error types
            raise ModelLoadError(f"cannot load VAD model {model_path}: {exc}") from exc
        names = {i.name for i in self.session.get_inputs()}
        if names != {"input", "state", "sr"}:
            raise ModelLoadError(f"{model_path} is not a Silero VAD v5+ model (inputs {sorted(names)})")
        self.sample_rate = np.array(sample_rate, dtype=np.int64)
        self.window = WINDOW_16K
        self.reset()

    def reset(self) -> None:
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros((1, CONTEXT_16K), dtype=np.float32)

    def probability(self, window: npt.NDArray[np.int16]) -> float:
        """Speech probability of one 512-sample window (int16)."""
        x = np.concatenate([self._context, (window.astype(np.float32) / 32768.0)[np.newaxis]], axis=1)
        out, self._state = self.session.run(None, {"input": x, "state": self._state, "sr": self.sample_rate})
        self._context = x[:, -CONTEXT_16K:]
        return float(np.asarray(out).reshape(-1)[0])
