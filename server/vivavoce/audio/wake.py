"""Wake word spotting on this machine: pocketsphinx's keyphrase search, no network, no billing.

:class:`Spotter` listens to a stream of 16 kHz mono audio for one phrase ("hey viva") and says
where in the stream it ended. Words its dictionary lacks (a made-up name) are pronounced as
their pieces (:mod:`vivavoce.pronunciation`). The phrase counts only after a pause
(:data:`PAUSE_DB`): words inside a sentence that sound like it are most false triggers.

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
#: A wake word starts after a pause: the phrase counts only when the audio just before it
#: (:data:`LEAD` samples, up to 50 ms before it) is :data:`PAUSE_DB` quieter than the phrase.
#: Most false triggers are words inside a sentence that sound like the phrase ("every…").
LEAD = RATE // 4
PAUSE_DB = 10.0
#: Audio kept to judge that pause (samples).
KEEP = 4 * RATE

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
        self._kept = np.zeros(0, np.int16)  # the last KEEP samples given to the decoder
        #: Phrases heard but refused (no pause before them).
        self.refused = 0
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
            self._kept = np.concatenate([self._kept, piece])[-KEEP:]
            if self._decoder.hyp() is not None:
                start, end = self._phrase_span()
                self._restart()
                if not self._after_pause(start, end):
                    self.refused += 1
                elif end - self._last_hit >= REFRACTORY:
                    self._last_hit = end
                    self.hits += 1
                    found = end
        return found

    def _phrase_span(self) -> tuple[int, int]:
        """Where the phrase just heard began and ended (stream positions)."""
        frames: list[tuple[int, int]] = [(s.start_frame, s.end_frame) for s in self._decoder.seg()]
        if not frames:
            return self.samples, self.samples
        begin = self._utterance_start + min(f[0] for f in frames) * FRAME
        end = self._utterance_start + (max(f[1] for f in frames) + 1) * FRAME
        return min(begin, self.samples), min(end, self.samples)

    def _after_pause(self, start: int, end: int) -> bool:
        """Whether the phrase at ``start:end`` followed a pause (see :data:`PAUSE_DB`)."""
        first = self.samples - self._kept.size  # stream position of _kept[0]
        lead = self._kept[max(0, start - LEAD - first) : max(0, start - RATE // 20 - first)]
        said = self._kept[max(0, start - first) : max(0, end - first)]
        if lead.size < RATE // 10 or said.size == 0:
            return True  # the stream just began: nothing to judge by

        def rms(x: Pcm) -> float:
            return float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) + 1.0

        return bool(20 * np.log10(rms(said) / rms(lead)) >= PAUSE_DB)

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
