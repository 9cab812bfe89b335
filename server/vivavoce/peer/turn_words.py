"""The words of a detected turn, recognized while it is spoken and asked for before it ends.

:class:`TurnWords` is the :class:`~vivavoce.peer.services.Utterance` of the turn in progress,
owned by :class:`~vivavoce.peer.input_audio.InputAudio` from ``speech_started`` to the commit
(then by its transcription task). It feeds the recognizer's utterance the turn as it comes and,
with ``server_vad``, **finishes it early**: once the user has been silent for all but
:data:`EARLY_MS` of the silence that ends a turn, the recognizer is asked for the words then, so
they are usually there when the turn ends instead of :data:`EARLY_MS` later (pocketsphinx's
end of utterance is a second search over the whole turn, ≈ 70 ms of CPU, plus the last piece
of audio). If the user speaks again before the turn ends, those words are thrown away and a new
utterance is fed the whole turn so far at once, in the background while the user speaks (the
cost of the old whole-turn decode, paid only for pauses that nearly ended the turn).

Its :class:`EarlyListener` hears of the early words as soon as they are there (the session
starts writing the reply then, :mod:`.speculation`) and of their being dropped (the user spoke
again, or the turn was cleared).

Silence at the end of the turn so far is fed only up to :data:`~.vad.TRAILING_KEPT` (the
trailing silence a committed turn keeps); the rest is held back, and fed only if the user
speaks again. So the recognizer decodes exactly the committed turn's audio (its words are the
whole clip's), and no CPU goes on silence that cannot hold words: with the early finish at
300 ms of silence, ≈ 120 ms a turn, more with longer ``silence_duration_ms`` (see
:mod:`.stt` for the numbers).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..realtime import events as ev
from ..rtc.tracks import Pcm
from .lexicon import session_words
from .services import SpeechToText, Utterance
from .vad import RATE, TRAILING_KEPT
from .wire import Spawn

#: The words are asked for this long before the turn's silence would end it.
EARLY_MS = 200


@dataclass(frozen=True)
class EarlyListener:
    """Who hears of a turn's early words: ``words`` once they are there (the turn not yet
    ended), ``dropped`` when words heard so were thrown away."""

    words: Callable[[str], None]
    dropped: Callable[[], None]


@dataclass
class _Early:
    """One early finish: its words or its failure, once its task is done."""

    text: str | None = None
    error: Exception | None = None
    task: asyncio.Task[None] | None = None

    async def run(
        self, utterance: Utterance, audio: Pcm, heard: Callable[[str], None] | None = None
    ) -> None:
        try:
            self.text = await utterance.finish(audio)
        except Exception as exc:  # raised to the turn's owner at finish()
            self.error = exc
            return
        if heard is not None:
            heard(self.text)


class TurnWords:
    """The turn in progress as an :class:`Utterance` (see the module docstring).

    ``kind``: the session's input audio format; ``early_ms``: the silence after which the
    words are asked for (None: only at the end); ``listener``: who hears of the early words.
    """

    def __init__(
        self,
        recognizer: SpeechToText,
        words: tuple[str, ...],
        spawn: Spawn,
        *,
        kind: str = "audio/pcm",
        early_ms: int | None = None,
        listener: EarlyListener | None = None,
    ) -> None:
        self._recognizer = recognizer
        self._words = words
        self._kind = kind
        self._spawn = spawn
        self._early_ms = early_ms
        self._listener = listener
        self._utterance = recognizer.stream(words, kind)
        self._audio: list[Pcm] = []  # the turn so far (to start again after an early finish)
        self._held: list[Pcm] = []  # trailing silence beyond TRAILING_KEPT, not fed (yet)
        self._early: _Early | None = None
        self._open = True

    @classmethod
    def of_session(
        cls,
        recognizer: SpeechToText,
        session: ev.Session,
        spawn: Spawn,
        listener: EarlyListener | None = None,
    ) -> TurnWords:
        """A turn of ``session``: its vocabulary, its kind of audio, asked for early with
        ``server_vad`` (not with a silence under 2 × :data:`EARLY_MS`: not worth a second
        decode; nor with ``semantic_vad``, whose pauses are checked whole)."""
        audio = session.audio.input
        td = audio.turn_detection
        early: int | None = None
        if isinstance(td, ev.ServerVad) and td.silence_duration_ms >= 2 * EARLY_MS:
            early = td.silence_duration_ms - EARLY_MS
        kind = audio.format.type if audio.format is not None else "audio/pcm"
        words = session_words(audio.transcription)
        return cls(recognizer, words, spawn, kind=kind, early_ms=early, listener=listener)

    def feed(self, pcm: Pcm, silence_ms: int = 0) -> None:
        """More of the turn; ``silence_ms``: how long the user has been silent at its end."""
        if not self._open or pcm.size == 0:
            return
        self._audio.append(pcm)
        if self._early is not None:
            if silence_ms > 0:
                return  # still silent: the early words stand
            # Spoken again: the words so far are not the turn's. Start again, all of it at once.
            self._drop_early()
            self._held.clear()
            self._utterance = self._recognizer.stream(self._words, self._kind)
            self._utterance.feed(np.concatenate(self._audio))
            return
        fed = self._hold_back(pcm, silence_ms)
        if fed.size:
            self._utterance.feed(fed)
        if self._early_ms is not None and silence_ms >= self._early_ms:
            early = _Early()
            audio = np.concatenate(self._audio)
            held = sum(p.size for p in self._held)
            early.task = self._spawn(
                early.run(self._utterance, audio[: audio.size - held], self._heard_early),
                "early turn words",
            )
            self._early = early

    def detach(self) -> None:
        """Nobody hears of early words from now on (the turn was committed by the client,
        with no response to start ahead)."""
        self._listener = None

    def _heard_early(self, text: str) -> None:
        if self._open and self._listener is not None:
            self._listener.words(text)

    def _drop_early(self) -> None:
        early, self._early = self._early, None
        if early is None:
            return
        if early.task is not None:
            early.task.cancel()
        if self._listener is not None:
            self._listener.dropped()

    def _hold_back(self, pcm: Pcm, silence_ms: int) -> Pcm:
        """What of the audio so far is to be fed now: all but the trailing silence beyond
        :data:`TRAILING_KEPT`, which stays held (fed once the user speaks again)."""
        beyond = max(0, silence_ms * RATE // 1000 - TRAILING_KEPT)
        if not self._held and beyond == 0:
            return pcm
        self._held.append(pcm)
        audio = np.concatenate(self._held)
        keep = min(beyond, audio.size)
        self._held = [audio[audio.size - keep :]] if keep else []
        return audio[: audio.size - keep]

    async def finish(self, audio: Pcm) -> str:
        """The words of the turn (``audio``: the whole turn, for a recognizer that needs it)."""
        if not self._open:
            raise RuntimeError("the turn's words were already taken or dropped")
        self._open = False
        early = self._early
        if early is None:
            return await self._utterance.finish(audio)
        if early.task is not None:
            await asyncio.wait([early.task])
        if early.error is not None:
            raise early.error
        if early.text is not None:
            return early.text
        return await self._recognizer.transcribe(audio, self._words)  # its task was cancelled

    def drop(self) -> None:
        """Forget the turn (idempotent; nothing to do once finished)."""
        if not self._open:
            return
        self._open = False
        self._drop_early()
        self._utterance.drop()
