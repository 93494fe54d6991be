"""Audio as 16-bit mono chunks, from a WAV file or a microphone (sounddevice → PortAudio → ALSA).

A WAV must be PCM 16-bit at the configured rate (``sox in.wav -r 16000 -c 1
-b 16 out.wav`` converts one); several channels are mixed down. A file whose
samples often sit at full scale is *clipped*: it is still processed, and
:attr:`WavSource.clipped_ratio` lets the agent report it in the heartbeat.
A file shorter than its header says (cut off mid-write) is read up to where
its data ends.
"""

from __future__ import annotations

import queue
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge_runtime.capture import CaptureError

FULL_SCALE = 32767
#: Share of samples at full scale above which a recording counts as clipped.
CLIPPED_RATIO = 0.001

Samples = npt.NDArray[np.int16]


@dataclass(frozen=True, slots=True)
class AudioChunk:
    #: Index of the chunk's first sample since the source started.
    start_sample: int
    samples: Samples


class _ClipMeter:
    """Counts samples read and samples at full scale (a clipped recording)."""

    clipped_samples = 0
    samples_read = 0

    def measure(self, samples: Samples) -> None:
        self.clipped_samples += int(np.count_nonzero(np.abs(samples.astype(np.int32)) >= FULL_SCALE))
        self.samples_read += samples.size

    @property
    def clipped_ratio(self) -> float:
        return self.clipped_samples / self.samples_read if self.samples_read else 0.0


class WavSource(_ClipMeter):
    """Chunks of a WAV file (ends with the file)."""

    is_file = True

    def __init__(self, path: Path, sample_rate: int, chunk_ms: int) -> None:
        if not path.is_file():
            raise CaptureError(f"WAV file not found: {path}")
        try:
            self._wav = wave.open(str(path), "rb")  # noqa: SIM115 - closed in close()
        except (wave.Error, EOFError) as exc:
            raise CaptureError(f"{path} is not a readable WAV file: {exc}") from exc
        if self._wav.getsampwidth() != 2 or self._wav.getcomptype() != "NONE":
            raise CaptureError(
                f"{path}: need 16-bit PCM, got {8 * self._wav.getsampwidth()}-bit {self._wav.getcomptype()}"
            )
        if self._wav.getframerate() != sample_rate:
            raise CaptureError(
                f"{path}: sample rate {self._wav.getframerate()} Hz, need {sample_rate} Hz "
                f"(convert: sox in.wav -r {sample_rate} -c 1 -b 16 out.wav)"
            )
        self.path = path
        self.sample_rate = sample_rate
        self.channels = self._wav.getnchannels()
        self.chunk = max(1, sample_rate * chunk_ms // 1000)

    def __iter__(self) -> Iterator[AudioChunk]:
        position = 0
        while True:
            try:
                raw = self._wav.readframes(self.chunk)
            except (wave.Error, EOFError):  # data cut off mid-frame
                break
            usable = len(raw) - len(raw) % (2 * self.channels)
            if usable == 0:
                break
            samples = np.frombuffer(raw[:usable], dtype="<i2")
            if self.channels > 1:
                samples = samples.reshape(-1, self.channels).mean(axis=1).astype(np.int16)
            self.measure(samples)
            yield AudioChunk(position, np.asarray(samples, dtype=np.int16))
            position += samples.size

    def close(self) -> None:
        self._wav.close()


class MicrophoneSource(_ClipMeter):
    """Chunks from a live input device (never ends); needs PortAudio (``libportaudio2`` on Raspberry Pi OS)."""

    is_file = False

    def __init__(self, device: int | str, sample_rate: int, chunk_ms: int) -> None:
        try:
            import sounddevice
        except OSError as exc:  # PortAudio library missing
            raise CaptureError(f"no audio backend: {exc} (install libportaudio2)") from exc
        self.sample_rate = sample_rate
        self.chunk = max(1, sample_rate * chunk_ms // 1000)
        self._queue: queue.Queue[Samples] = queue.Queue(maxsize=64)
        self.overflows = 0

        def callback(data: Any, frames: int, time_info: Any, status: Any) -> None:
            if status:
                self.overflows += 1
            try:
                self._queue.put_nowait(np.asarray(data[:, 0], dtype=np.int16).copy())
            except queue.Full:
                self.overflows += 1

        try:
            self._stream = sounddevice.InputStream(
                device=None if device == "default" else device,
                channels=1,
                samplerate=sample_rate,
                dtype="int16",
                blocksize=self.chunk,
                callback=callback,
            )
            self._stream.start()
        except Exception as exc:  # sounddevice.PortAudioError and ValueError for unknown devices
            raise CaptureError(f"cannot open microphone {device!r}: {exc}") from exc

    def __iter__(self) -> Iterator[AudioChunk]:
        position = 0
        while True:
            try:
                samples = self._queue.get(timeout=5.0)
            except queue.Empty as exc:
                raise CaptureError("microphone delivered no audio for 5 s") from exc
            self.measure(samples)
            yield AudioChunk(position, samples)
            position += samples.size

    def close(self) -> None:
        self._stream.close()
