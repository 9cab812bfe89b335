"""Speech recognition for the local peer: pocketsphinx with its bundled English model.

pocketsphinx holds the GIL for the whole of a decode (measured: a 4-s utterance decoded in a
worker thread stopped every other thread, the event loop included, for as long as it took;
loading a decoder stops them for ≈ 0.6–2.7 s). In a thread it therefore froze every call of
the peer for seconds at each user turn, and 16 calls could not be carried. So decoding runs in
worker processes: one pool per Python process (:func:`pool`), shared by every peer, call and
the ``/v1/audio/transcriptions`` route, each worker keeping one loaded decoder. A worker that
dies is replaced and the utterance decoded again once.

``transcribe(pcm, words)`` expects the session's vocabulary (:mod:`.lexicon`: identifiers
added to the dictionary, boosted in the language model; they come out as written). Words
cannot be taken out of a decoder again, so each worker keeps a decoder per vocabulary (the
few most recent).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import numpy as np

from ..rtc.tracks import Pcm

log = logging.getLogger(__name__)

RATE = 16000
#: Worker processes: decoding is CPU work, one per core (at most 2: each holds a decoder).
WORKERS = max(1, min(2, os.cpu_count() or 1))

_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


def pool() -> ProcessPoolExecutor:
    """The recognition workers of this process (started on first use)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            import multiprocessing

            # spawn: a fork would copy the event loop's and aiortc's threads' state.
            context = multiprocessing.get_context("spawn")
            _pool = ProcessPoolExecutor(WORKERS, mp_context=context, initializer=_detach)
        return _pool


def _replace_pool(broken: ProcessPoolExecutor) -> None:
    global _pool
    with _pool_lock:
        if _pool is broken:
            _pool = None
    broken.shutdown(wait=False, cancel_futures=True)


# ---------------------------------------------------------------------- in the worker process


def _detach() -> None:
    """A worker lets go of its parent's standard streams, yields the CPU to real-time audio,
    and ends when its parent does.

    A peer process killed while its workers live must still close its stdout and stderr pipes
    (that is how the conversation that started it learns of its death at once), and its
    workers must not outlive it: their task queue never reads end-of-file (each worker holds
    its write end too), so a thread watches for the parent to go (the worker is re-parented).
    """
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    # Below the calls' real-time audio: starting two workers (loading their models) on a
    # 2-core machine took the CPU from the call being set up, and its audio stalled.
    os.nice(10)
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="vivavoce stt parent watch", daemon=True).start()


#: Decoders of a worker, by the vocabulary they were taught (most recently used last).
_decoders: dict[tuple[str, ...], Any] = {}
#: Vocabularies a worker keeps a decoder for.
MAX_VOCABULARIES = 4


def _worker_decoder(words: tuple[str, ...] = ()) -> Any:
    decoder = _decoders.pop(words, None)
    if decoder is None:
        from pocketsphinx import Decoder

        decoder = Decoder(loglevel="FATAL")
        if words:
            from .lexicon import teach

            taught = teach(decoder, words)
            log.info("recognizer taught %d of %d vocabulary words", len(taught), len(words))
    _decoders[words] = decoder
    for stale in [k for k in _decoders if k][: -MAX_VOCABULARIES or None]:
        if stale != words:
            del _decoders[stale]
    return decoder


def _decode(raw: bytes, words: tuple[str, ...] = ()) -> str:
    decoder = _worker_decoder(words)
    decoder.start_utt()
    decoder.process_raw(raw, full_utt=True)
    decoder.end_utt()
    hyp = decoder.hyp()
    return " ".join(str(hyp.hypstr if hyp is not None else "").split())


def _load() -> None:
    _worker_decoder()


# ---------------------------------------------------------------------- in the peer


class Recognizer:
    """16 kHz mono int16 in, lower-case words out, and the vocabulary's words as written
    (decoded in the shared worker processes)."""

    async def _run(self, fn: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        for attempt in (1, 2):
            workers = pool()
            try:
                return await loop.run_in_executor(workers, fn, *args)
            except BrokenProcessPool:
                log.warning("a speech recognition worker died; starting another")
                _replace_pool(workers)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def transcribe(self, pcm: Pcm, words: tuple[str, ...] = ()) -> str:
        """The words heard in ``pcm`` (16 kHz mono int16); "" when nothing was recognized.
        ``words``: the vocabulary to expect (identifiers come out as written)."""
        if pcm.size < RATE // 10:
            return ""
        raw = np.ascontiguousarray(pcm, dtype=np.int16).tobytes()
        text: str = await self._run(_decode, raw, words)
        return text

    async def aclose(self) -> None:
        return None  # the workers are shared by every peer of this process; they stay

    async def warm_up(self) -> None:
        """Start the workers and load their decoders ahead of the first utterance."""
        await asyncio.gather(*(self._run(_load) for _ in range(WORKERS)))
