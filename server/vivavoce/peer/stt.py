"""Speech recognition for the local peer: pocketsphinx with its bundled English model.

``Recognizer.transcribe(pcm16k)`` decodes one utterance in a worker thread (decoding takes
about half the utterance's duration on these machines and must not block the event loop).
Decoders take ≈ 0.6 s to load, so idle ones are pooled and shared by every call of the peer
and the ``/v1/audio/transcriptions`` route; a decoder is used by one thread at a time.
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
    """A pool of pocketsphinx decoders (16 kHz mono int16 in, lower-case words out)."""

    def __init__(self, max_idle: int = 4) -> None:
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        self._max_idle = max_idle

    def _acquire(self) -> Any:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        from pocketsphinx import Decoder

        return Decoder(loglevel="FATAL")

    def _release(self, decoder: Any) -> None:
        with self._lock:
            if len(self._idle) < self._max_idle:
                self._idle.append(decoder)

    def _decode(self, pcm: Pcm) -> str:
        decoder = self._acquire()
        decoder.start_utt()
        decoder.process_raw(np.ascontiguousarray(pcm, dtype=np.int16).tobytes(), full_utt=True)
        decoder.end_utt()
        hyp = decoder.hyp()
        text = hyp.hypstr if hyp is not None else ""
        # Only a decoder that finished its utterance is reused.
        self._release(decoder)
        return " ".join(str(text).split())

    async def transcribe(self, pcm: Pcm) -> str:
        """The words heard in ``pcm`` (16 kHz mono int16); "" when nothing was recognized."""
        if pcm.size < RATE // 10:
            return ""
        return await asyncio.to_thread(self._decode, pcm)

    async def warm_up(self) -> None:
        """Load one decoder ahead of the first utterance (in a thread)."""

        def load() -> None:
            self._release(self._acquire())

        await asyncio.to_thread(load)
