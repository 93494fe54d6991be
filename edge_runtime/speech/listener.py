"""Audio chunks → VAD windows → speech segments → transcripts → ``scout.stt/1`` events.

No raw audio leaves this module: only transcripts, word timings and
confidences do (``audio_url`` stays null; SPEC §5 privacy).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from edge_runtime.capture.audio import AudioChunk
from edge_runtime.events import EventClock, EventFactory
from edge_runtime.speech.stt import SttEngine, Transcript
from edge_runtime.speech.vad import Segment, SileroVad, SpeechSegmenter
from scout_contract.events import SttV1, Word


@dataclass
class ListenerStats:
    audio_s: float = 0.0
    vad_s: float = 0.0
    stt_s: float = 0.0
    speech_s: float = 0.0
    segments: int = 0

    @property
    def rtf(self) -> float:
        """(VAD + STT compute time) / audio time."""
        return (self.vad_s + self.stt_s) / self.audio_s if self.audio_s else 0.0


class Listener:
    """Keeps a rolling buffer of recent audio so a closing segment (plus padding) can be cut from it."""

    def __init__(
        self,
        vad: SileroVad,
        segmenter: SpeechSegmenter,
        engine: SttEngine,
        factory: EventFactory,
        clock: EventClock,
        *,
        lang: str,
        sample_rate: int = 16_000,
    ) -> None:
        self.vad = vad
        vad.reset()
        self.segmenter = segmenter
        self.engine = engine
        self.factory = factory
        self.clock = clock
        self.lang = lang
        self.sample_rate = sample_rate
        self.stats = ListenerStats()
        self._buffer = np.zeros(0, dtype=np.int16)
        self._buffer_start = 0
        self._pending = np.zeros(0, dtype=np.int16)
        self._position = 0
        #: Audio kept behind the open segment: its padding.
        self._keep = segmenter.pad + vad.window
        self._seq = 0

    def feed(self, chunks: Iterable[AudioChunk]) -> Iterator[tuple[SttV1, Transcript]]:
        import time

        for chunk in chunks:
            self._buffer = np.concatenate([self._buffer, chunk.samples])
            self._pending = np.concatenate([self._pending, chunk.samples])
            self.stats.audio_s += chunk.samples.size / self.sample_rate
            window = self.vad.window
            while self._pending.size >= window:
                t = time.perf_counter()
                p = self.vad.probability(self._pending[:window])
                self.stats.vad_s += time.perf_counter() - t
                self._pending = self._pending[window:]
                for segment in self.segmenter.push(self._position, p):
                    yield from self._transcribe(segment)
                self._position += window
            self._trim()
        for segment in self.segmenter.flush(self._position):
            yield from self._transcribe(segment)

    def _trim(self) -> None:
        if self.segmenter.in_speech:
            return
        drop = self._buffer.size - self._keep
        if drop > 0:
            self._buffer = self._buffer[drop:]
            self._buffer_start += drop

    def _transcribe(self, segment: Segment) -> Iterator[tuple[SttV1, Transcript]]:
        lo = max(segment.start, self._buffer_start) - self._buffer_start
        hi = min(segment.end, self._buffer_start + self._buffer.size) - self._buffer_start
        audio = self._buffer[lo:hi]
        if audio.size == 0:
            return
        start_sample = self._buffer_start + lo
        transcript = self.engine.transcribe(audio)
        self.stats.stt_s += transcript.compute_s
        self.stats.speech_s += audio.size / self.sample_rate
        self.stats.segments += 1
        offset_ms = round(start_sample * 1000 / self.sample_rate)
        ts = self.clock.at(offset_ms)
        self._seq += 1
        event = self.factory.stt(
            ts,
            self._seq,
            duration_ms=round(audio.size * 1000 / self.sample_rate),
            transcript=transcript.text,
            confidence=transcript.confidence,
            lang=self.lang,
            engine=self.engine.name,
            model_version=self.engine.model_version,
            words=[Word(w=w.text, start_ms=w.start_ms, end_ms=w.end_ms, conf=w.confidence) for w in transcript.words],
        )
        yield event, transcript
