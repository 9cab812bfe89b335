"""Speech recognition for the local peer: pocketsphinx with its bundled English model.

``Recognizer.transcribe(pcm16k)`` decodes one utterance in a worker thread (decoding takes
about half the utterance's duration on these machines and must not block the event loop).
Decoders take ≈ 0.6 s to load, so idle ones are pooled and shared by every call of the peer
and the ``/v1/audio/transcriptions`` route; a decoder is used by one thread at a time.

``transcribe(pcm, words)`` expects the session's vocabulary (:mod:`.lexicon`: identifiers
added to the dictionary, boosted in the language model). Words cannot be taken out of a
decoder again, so idle decoders are pooled by the vocabulary they were taught.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import numpy as np

from ..rtc.tracks import Pcm

log = logging.getLogger(__name__)

RATE = 16000


class Recognizer:
    """A pool of pocketsphinx decoders (16 kHz mono int16 in, lower-case words out, and the
    vocabulary's words as written)."""

    def __init__(self, max_idle: int = 4) -> None:
        self._idle: dict[tuple[str, ...], list[Any]] = {}
        self._lock = threading.Lock()
        self._max_idle = max_idle

    def _acquire(self, words: tuple[str, ...] = ()) -> Any:
        with self._lock:
            if pool := self._idle.get(words):
                return pool.pop()
        from pocketsphinx import Decoder

        from .lexicon import teach

        decoder = Decoder(loglevel="FATAL")
        if words:
            taught = teach(decoder, words)
            log.info("recognizer taught %d of %d vocabulary words", len(taught), len(words))
        return decoder

    def _release(self, decoder: Any, words: tuple[str, ...] = ()) -> None:
        with self._lock:
            pool = self._idle.setdefault(words, [])
            if len(pool) < self._max_idle:
                pool.append(decoder)
            # Decoders of at most max_idle vocabularies are kept: the oldest go first.
            older = [k for k in self._idle if k and k != words]
            for stale in older[: max(0, len(older) + 1 - self._max_idle)]:
                del self._idle[stale]

    def _decode(self, pcm: Pcm, words: tuple[str, ...] = ()) -> str:
        decoder = self._acquire(words)
        decoder.start_utt()
        decoder.process_raw(np.ascontiguousarray(pcm, dtype=np.int16).tobytes(), full_utt=True)
        decoder.end_utt()
        hyp = decoder.hyp()
        text = hyp.hypstr if hyp is not None else ""
        # Only a decoder that finished its utterance is reused.
        self._release(decoder, words)
        return " ".join(str(text).split())

    async def transcribe(self, pcm: Pcm, words: tuple[str, ...] = ()) -> str:
        """The words heard in ``pcm`` (16 kHz mono int16); "" when nothing was recognized.
        ``words``: the vocabulary to expect (identifiers come out as written)."""
        if pcm.size < RATE // 10:
            return ""
        return await asyncio.to_thread(self._decode, pcm, words)

    async def warm_up(self) -> None:
        """Load one decoder ahead of the first utterance (in a thread)."""

        def load() -> None:
            self._release(self._acquire())

        await asyncio.to_thread(load)
