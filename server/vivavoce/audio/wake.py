"""Wake word spotting on this machine: pocketsphinx's keyphrase search, no network, no billing.

:class:`Spotter` listens to a stream of 16 kHz mono audio for one phrase ("hey viva") and says
where in the stream it ended. Words its dictionary lacks (a made-up name) are pronounced as
their pieces (:mod:`vivavoce.pronunciation`).

pocketsphinx holds the GIL for a whole ``process_raw``: audio is fed in pieces of at most
:data:`CHUNK` samples (100 ms: ≈ 2–3 ms of CPU each here), so whoever feeds it (the event loop)
is never held up longer than that. Loading the decoder (acoustic model and dictionary, no
language model) takes ≈ 0.1 s: do it off the loop (:func:`load_spotter`). Measured by
``make bench`` (group ``wakeword``): CPU, hits and false triggers per hour.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import numpy as np

from ..rtc.tracks import Pcm
from ..settings import WAKE_WORD_THRESHOLD

log = logging.getLogger(__name__)

#: The spotter's sample rate (pocketsphinx's model).
RATE = 16000
#: Samples per ``process_raw`` (100 ms): the longest the GIL is held at a time.
CHUNK = 1600
#: Samples per pocketsphinx frame (10 ms): segment times are in frames.
FRAME = 160
#: pocketsphinx's ``kws_threshold`` (setting ``wakeWordThreshold``): lower hears more phrases,
#: and more that were not said. Measured with ``make bench`` group ``wakeword``.
DEFAULT_THRESHOLD = WAKE_WORD_THRESHOLD
#: After a hit the decoder starts over; a hit within this many samples of the last one is the
#: same phrase heard again.
REFRACTORY = RATE // 2

_WORD = re.compile(r"[a-z0-9']+")


class WakeWordError(ValueError):
    """The phrase cannot be spotted (no words, or a word with no pronunciation)."""


def phrase_words(phrase: str) -> list[str]:
    """The words of ``phrase`` as the dictionary spells them (lower case, no punctuation)."""
    return _WORD.findall(phrase.lower())


class Spotter:
    """One phrase, spotted in a stream of 16 kHz mono int16 audio fed in any sizes."""

    def __init__(self, phrase: str, threshold: float = DEFAULT_THRESHOLD) -> None:
        from pocketsphinx import Decoder

        words = phrase_words(phrase)
        if not words:
            raise WakeWordError(f"the wake word {phrase!r} has no words")
        self.phrase = " ".join(words)
        self.threshold = threshold
        decoder = Decoder(lm=None, kws_threshold=threshold, loglevel="FATAL")
        self._teach(decoder, words)
        decoder.add_keyphrase("wake", self.phrase)
        decoder.activate_search("wake")
        self._decoder: Any = decoder
        self._pending = np.zeros(0, np.int16)
        #: Samples given to the decoder so far (the stream's clock).
        self.samples = 0
        self._utterance_start = 0
        self._last_hit = -REFRACTORY
        self.hits = 0
        decoder.start_utt()

    @property
    def rate(self) -> int:
        return RATE

    def restart(self) -> None:
        """Forget what was heard (listening starts again after a pause)."""
        if self._decoder is not None:
            self._restart()
            self._pending = np.zeros(0, np.int16)

    @staticmethod
    def _teach(decoder: Any, words: list[str]) -> None:
        from ..pronunciation import pronunciations

        missing = [w for w in dict.fromkeys(words) if decoder.lookup_word(w) is None]
        for n, word in enumerate(missing):
            sounds = pronunciations(word, decoder.lookup_word)
            if not sounds:
                raise WakeWordError(f"no pronunciation for {word!r} in the wake word")
            decoder.add_word(word, sounds[0], n == len(missing) - 1)

    def feed(self, pcm: Pcm) -> int | None:
        """Listen to ``pcm`` (the stream's next samples); the stream position (in samples) where
        the phrase ended when it was heard in them, else None. Holds the caller for at most one
        :data:`CHUNK` at a time per call of ``process_raw``."""
        if self._pending.size:
            pcm = np.concatenate([self._pending, pcm])
        whole = pcm.size - pcm.size % FRAME
        self._pending = pcm[whole:].copy()
        found: int | None = None
        if self._decoder is None:
            return None
        for i in range(0, whole, CHUNK):
            piece = pcm[i : min(i + CHUNK, whole)]
            self._decoder.process_raw(np.ascontiguousarray(piece, np.int16).tobytes())
            self.samples += piece.size
            if self._decoder.hyp() is not None:
                end = self._phrase_end()
                self._restart()
                if end - self._last_hit >= REFRACTORY:
                    self._last_hit = end
                    self.hits += 1
                    found = end
        return found

    def _phrase_end(self) -> int:
        ends: list[int] = [seg.end_frame for seg in self._decoder.seg()]
        if not ends:
            return self.samples
        return min(self.samples, self._utterance_start + (max(ends) + 1) * FRAME)

    def _restart(self) -> None:
        self._decoder.end_utt()
        self._decoder.start_utt()
        self._utterance_start = self.samples

    def close(self) -> None:
        """Let go of the decoder (idempotent)."""
        decoder, self._decoder = self._decoder, None
        if decoder is not None:
            decoder.end_utt()


async def load_spotter(phrase: str, threshold: float = DEFAULT_THRESHOLD) -> Spotter:
    """A :class:`Spotter`, loaded in a worker thread (model and dictionary: ≈ 0.1 s)."""
    return await asyncio.to_thread(Spotter, phrase, threshold)
