"""Speech recognition for the local peer: pocketsphinx with its bundled English model.

pocketsphinx holds the GIL for the whole of a decode (measured: a 4-s utterance decoded in a
worker thread stopped every other thread, the event loop included, for as long as it took;
loading a decoder stops them for ≈ 0.6–2.7 s). In a thread it therefore froze every call of
the peer for seconds at each user turn, and 16 calls could not be carried. So decoding runs in
worker processes, one per Python process and worker *slot* (:data:`WORKERS`), shared by every
peer, call and the ``/v1/audio/transcriptions`` route. Each slot is a single-worker
``ProcessPoolExecutor``, so what is sent to it runs in order, in the one process that holds
the decoders it set up.

Two ways in:

* :meth:`Recognizer.stream` — a turn recognized **while the user speaks** (the peer's
  detected turns): the utterance stays on one slot for its life (``start`` takes a decoder for
  its vocabulary and starts the utterance, ``feed`` decodes each ≈ 200 ms of audio as it
  arrives, ``finish`` ends it and reads the words, ``drop`` forgets it). pocketsphinx costs
  ≈ 0.1 CPU-s per audio-s here (*Cost* below), so a worker keeps up and, at the end of the
  turn, only the last piece and the final search (≈ 70 ms of CPU) are left: on the reply bench
  (``make bench``, group ``reply``) ``speech_stopped`` → first reply audio went from
  0.5–0.8 s to 0.2–0.3 s (p50). A slot that dies on the way (or fails otherwise): the turn is
  decoded whole once instead.
* :meth:`Recognizer.transcribe` — a whole clip at once (the transcription route, semantic
  pause checks, push-to-talk commits); a slot that dies is replaced and the clip decoded again
  once.

Both expect the session's vocabulary (:mod:`.lexicon`: identifiers added to the dictionary,
boosted in the language model; they come out as written). Words cannot be taken out of a
decoder again, so each worker keeps decoders per vocabulary (the few most recent), and a few
idle ones of each, since an utterance in progress holds its decoder until it finishes.

Cost. Recognition was most of the CPU of 16 calls (issue 17): the load bench's peer children
(these workers and flite) took 54–64 ms per call-second, ≈ 1 core of the 2, and the workers
(at nice 10) fell behind, so replies started seconds late and ran into the next turn.
Measured in the workers, a turn (≈ 2.1 s: 300 ms of prefix padding, the sentence, the
trailing silence) cost 0.42 CPU-s with one call and 0.56 under the 16 calls (0.185 CPU-s per
audio-s to decode as it came, 111 ms to finish, and a new decoder, ≈ 0.27 CPU-s, for 1 turn
in 8); flite's reply ≈ 0.04 CPU-s. ``perf``: about half is scoring senones, most of the rest
the first search (``fwdtree``). Tried, streamed as the peer does, on flite turns (rms and slt)
of the tests' and benches' sentences (42) and the vocabulary bench's (64, with and without
their vocabulary); CPU a turn interleaved in one process, best of 3:

- pocketsphinx's defaults, 400 ms of trailing silence: 325 ms; test sentences 9.4 % WER,
  30/42 exact; 250 ms of trailing silence: 303 ms, 9.0 %, 31/42, identifiers 85 %.
- ``maxhmmpf`` 4000 and ``pbeam`` 1e-40 (defaults 30000, 1e-48), 250 ms: **253 ms, the same
  words** (9.0 %, 31/42, identifiers 85 %; the vocabulary bench, whole clips: the very same
  numbers, 32.07 % WER of the code, 21.32 % of the words said, 86.36 % identifiers). Chosen:
  :data:`SEARCH`. ``maxhmmpf`` 3000: 235 ms, but one word more wrong on that bench.
- ``fwdflat`` off: −21 % more, but "rename the variable to count" → "remainder variable to
  count", "and run the tests" → "and rhonda tests". ``topn`` 3: 215 ms, "the quick brown fox
  jumped". ``pl_weight`` 5: 190 ms, 2 of 88 identifiers lost. ``maxhmmpf`` 2000: 2
  identifiers lost. ``wbeam``/``fwdflatbeam`` narrower: 214 ms, WER 36 → 51 %. ``ds`` 2:
  only −7 % alone (the search still runs every frame), words lost. ``maxwpf`` 10: nothing.

So :data:`SEARCH` narrows the search only as far as the words stay, :data:`MAX_IDLE` keeps
the decoders 16 calls use, and :mod:`.turn_words` stops feeding the silence that ends a turn
past what the committed turn keeps (≈ 120 ms a turn; the words are then the whole clip's).
In the workers under the load bench (16 calls, load average 2–2.5) a turn went from 0.56 to
0.29 CPU-s (−47 %: 0.099 CPU-s per audio-s, 74 ms to finish, 1 new decoder in 96 turns), with
one call from 0.42 to 0.29; the peer's children from 54 to 37 ms per call-second, and the
words were there when the turn was committed (p90 64 ms after), so every turn
of the 192 was answered, its reply starting 0–0.3 s after ``response.created`` (was 3–7 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import numpy as np

from ..rtc.tracks import Pcm

log = logging.getLogger(__name__)

RATE = 16000
#: Worker processes: decoding is CPU work, one per core (at most 2: each holds decoders).
WORKERS = max(1, min(2, os.cpu_count() or 1))
#: A streamed utterance's audio goes to its worker this much at a time (fewer messages).
FEED_SAMPLES = RATE // 5

_slots: list[ProcessPoolExecutor | None] = [None] * WORKERS
#: Work sent to each slot and not yet done (streamed utterances count while open).
_busy: list[int] = [0] * WORKERS
_pool_lock = threading.Lock()
_uids = itertools.count(1)


def _slot(index: int) -> ProcessPoolExecutor:
    """The worker of slot ``index`` (started on first use)."""
    with _pool_lock:
        executor = _slots[index]
        if executor is None:
            import multiprocessing

            # spawn: a fork would copy the event loop's and aiortc's threads' state.
            context = multiprocessing.get_context("spawn")
            executor = ProcessPoolExecutor(1, mp_context=context, initializer=_detach)
            _slots[index] = executor
        return executor


def _least_busy() -> int:
    with _pool_lock:
        return min(range(WORKERS), key=lambda i: _busy[i])


def _claim(index: int, n: int) -> None:
    with _pool_lock:
        _busy[index] += n


def _replace_slot(index: int, broken: ProcessPoolExecutor) -> None:
    with _pool_lock:
        if _slots[index] is broken:
            _slots[index] = None
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


#: What a decoder is kept for: the kind of audio it hears (:data:`WHOLE` for whole clips) and
#: the vocabulary it was taught.
_Key = tuple[str, tuple[str, ...]]
#: The kind of the whole clips' decoders (their running mean is never used: see _Utt).
WHOLE = "whole"
#: The kind of audio a call's turns are unless said otherwise (16 kHz or more, PCM or Opus).
WIDEBAND = "audio/pcm"
#: Idle decoders of a worker, by what they are kept for (most recently used last).
_idle: OrderedDict[_Key, list[Any]] = OrderedDict()
#: The start of a streamed utterance decoded at once, normalized by its own mean (see _Utt).
HEAD_BYTES = 2 * RATE


class _Utt:
    """An utterance in progress in a worker: what its decoder is kept for, the decoder, and
    the utterance's first second until that is there.

    pocketsphinx normalizes cepstra by their mean: over the whole utterance when it is given at
    once (``full_utt``, whole clips), else by a running mean learnt from the audio the decoder
    heard before. Streamed from its first sample on a new decoder, an utterance was decoded
    from the initial guess, and audio unlike it came out as nonsense (measured: G711 telephone
    audio, "please open the main file" heard as "please with been coddled"; the whole clip was
    right). So the first second is decoded at once (that sets the mean from this utterance)
    and the rest as it comes; and the running mean is only ever learnt from one kind of audio:
    streaming decoders are kept per kind (the session's input format), apart from the whole
    clips'. On a decoder that had heard G711 audio before, wideband turns were heard worse
    ("please go to the main title"); kept apart, the streamed words matched the whole clip's
    on every sentence tried (flite, wideband and G711).
    """

    def __init__(self, key: _Key, decoder: Any) -> None:
        self.key, self.decoder = key, decoder
        self.head: bytearray | None = bytearray()  # None once the first second is decoded

    def feed(self, raw: bytes) -> None:
        if not raw:
            return
        if self.head is None:
            self.decoder.process_raw(raw)
            return
        self.head += raw
        if len(self.head) >= HEAD_BYTES:
            self._decode_head()

    def _decode_head(self) -> None:
        assert self.head is not None
        if self.head:
            self.decoder.process_raw(bytes(self.head), full_utt=True)
        self.head = None

    def finish(self, raw: bytes) -> str:
        self.feed(raw)
        if self.head is not None:
            self._decode_head()
        self.decoder.end_utt()
        return _hypothesis(self.decoder)


#: Utterances in progress in this worker.
_utterances: OrderedDict[str, _Utt] = OrderedDict()
#: Vocabularies a worker keeps idle decoders for.
MAX_VOCABULARIES = 4
#: Idle decoders kept per vocabulary and kind. Each holds ≈ 91 MiB (the language model,
#: dictionary and search tree) and takes ≈ 0.27 CPU-s to make; 16 calls have up to 3 turns
#: open at once on a worker, and with 2 kept it made a new decoder for 1 turn in 8 (≈ 6 % of
#: its CPU under the load bench). Decoders are made only when none is idle, so one user (one
#: turn at a time) keeps one per vocabulary and kind; the worst case, many calls with several
#: vocabularies each, is 3 × (vocabularies + kinds) × 91 MiB a worker (was 2 ×).
MAX_IDLE = 3
#: pocketsphinx's search, narrowed from its defaults (``maxhmmpf`` 30000, ``pbeam`` 1e-48):
#: the active HMMs a frame capped at 4000, best first, and phone transitions pruned a little
#: more: ≈ 20 % less CPU a turn, the same words (measured: the module docstring's *Cost*).
SEARCH: dict[str, Any] = {"maxhmmpf": 4000, "pbeam": 1e-40}
#: Utterances a worker keeps open; past this the oldest is forgotten (its owner never ended it).
MAX_OPEN = 32


def _take_decoder(key: _Key) -> Any:
    """An idle decoder for ``key`` (a new one when there is none)."""
    idle = _idle.get(key)
    if idle:
        return idle.pop()
    words = key[1]
    from pocketsphinx import Decoder

    decoder = Decoder(loglevel="FATAL", **SEARCH)
    if words:
        from .lexicon import teach

        taught = teach(decoder, words)
        log.info("recognizer taught %d of %d vocabulary words", len(taught), len(words))
    return decoder


def _give_back(key: _Key, decoder: Any) -> None:
    idle = _idle.pop(key, [])
    if len(idle) < MAX_IDLE:
        idle.append(decoder)
    _idle[key] = idle  # most recently used last
    for stale in [k for k in _idle if k[1]][: -MAX_VOCABULARIES or None]:
        if stale != key:
            del _idle[stale]


def _hypothesis(decoder: Any) -> str:
    hyp = decoder.hyp()
    return " ".join(str(hyp.hypstr if hyp is not None else "").split())


def _decode(raw: bytes, words: tuple[str, ...] = ()) -> str:
    decoder = _take_decoder((WHOLE, words))
    decoder.start_utt()
    decoder.process_raw(raw, full_utt=True)
    decoder.end_utt()
    _give_back((WHOLE, words), decoder)  # (not after a failure: its state is unknown)
    return _hypothesis(decoder)


def _start(uid: str, words: tuple[str, ...], kind: str) -> None:
    decoder = _take_decoder((kind, words))
    decoder.start_utt()
    _utterances[uid] = _Utt((kind, words), decoder)
    while len(_utterances) > MAX_OPEN:
        stale, _ = next(iter(_utterances.items()))
        log.warning("recognizer: utterance %s was never ended; forgetting it", stale)
        _drop(stale)


def _feed(uid: str, raw: bytes) -> None:
    _utterances[uid].feed(raw)


def _finish(uid: str, raw: bytes) -> str:
    utt = _utterances.pop(uid)
    text = utt.finish(raw)
    _give_back(utt.key, utt.decoder)  # (not after a failure: its state is unknown)
    return text


def _drop(uid: str) -> None:
    utt = _utterances.pop(uid, None)
    if utt is not None:
        utt.decoder.end_utt()
        _give_back(utt.key, utt.decoder)


def _load() -> None:
    for kind in (WHOLE, WIDEBAND):
        _give_back((kind, ()), _take_decoder((kind, ())))


# ---------------------------------------------------------------------- in the peer


class Recognizer:
    """16 kHz mono int16 in, lower-case words out, and the vocabulary's words as written
    (decoded in the shared worker processes)."""

    async def _run(self, fn: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        index = _least_busy()
        for attempt in (1, 2):  # the second on the same slot's new worker (the other may be
            worker = _slot(index)  # dead too, and not known to be yet)
            _claim(index, 1)
            try:
                return await loop.run_in_executor(worker, fn, *args)
            except BrokenProcessPool:
                log.warning("a speech recognition worker died; starting another")
                _replace_slot(index, worker)
                if attempt == 2:
                    raise
            finally:
                _claim(index, -1)
        raise AssertionError("unreachable")

    async def transcribe(self, pcm: Pcm, words: tuple[str, ...] = ()) -> str:
        """The words heard in ``pcm`` (16 kHz mono int16); "" when nothing was recognized.
        ``words``: the vocabulary to expect (identifiers come out as written)."""
        if pcm.size < RATE // 10:
            return ""
        raw = np.ascontiguousarray(pcm, dtype=np.int16).tobytes()
        text: str = await self._run(_decode, raw, words)
        return text

    def stream(self, words: tuple[str, ...] = (), kind: str = WIDEBAND) -> StreamedUtterance:
        """An utterance recognized as its audio is fed (on the least busy worker); ``kind``: of
        audio (the session's input format), decoded apart from other kinds (see :class:`_Utt`)."""
        return StreamedUtterance(self, words, kind)

    async def aclose(self) -> None:
        return None  # the workers are shared by every peer of this process; they stay

    async def warm_up(self) -> None:
        """Start the workers and load their decoders ahead of the first utterance."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(_slot(i), _load) for i in range(WORKERS)))


class StreamedUtterance:
    """One utterance decoded in one worker as it is fed (see the module docstring and
    :class:`_Utt`).

    Its owner feeds it the turn's audio, then calls :meth:`finish` (the words) or :meth:`drop`;
    either ends it, and both are idempotent. Sending never blocks the loop: the messages queue
    in the worker's executor, in order, and only :meth:`finish` waits.
    """

    def __init__(self, recognizer: Recognizer, words: tuple[str, ...], kind: str) -> None:
        self._recognizer = recognizer
        self.words = words
        self.uid = f"{os.getpid()}-{next(_uids)}"
        self._pending: list[Pcm] = []
        self._pending_samples = 0
        self._sent: list[Future[Any]] = []  # in order; pruned as they finish
        self._failure: BaseException | None = None
        self._open = True
        self._index = _least_busy()
        _claim(self._index, 1)
        self._worker: ProcessPoolExecutor | None = _slot(self._index)
        if self._send(_start, self.uid, words, kind) is None and isinstance(
            self._failure, BrokenProcessPool
        ):  # a worker that died since its last use: start another
            _replace_slot(self._index, self._worker)
            self._failure, self._worker = None, _slot(self._index)
            self._send(_start, self.uid, words, kind)

    @property
    def streaming(self) -> bool:
        """Whether the worker has taken everything so far (else the turn is decoded whole)."""
        self._check()
        return self._failure is None

    def _send(self, fn: Any, *args: Any) -> Future[Any] | None:
        if self._failure is not None or self._worker is None:
            return None
        try:
            future = self._worker.submit(fn, *args)
        except Exception as exc:  # broken or shut down: decoded whole at finish
            self._failure = exc
            return None
        self._sent.append(future)
        return future

    def _check(self) -> None:
        """Note the first failure among what was sent (the rest is in flight, in order)."""
        while self._sent and self._sent[0].done():
            exc = self._sent.pop(0).exception()
            if exc is not None and self._failure is None:
                self._failure = exc

    def feed(self, pcm: Pcm) -> None:
        """More of the turn (16 kHz mono int16), sent once ≈ 200 ms are there."""
        if not self._open or pcm.size == 0:
            return
        self._pending.append(pcm)
        self._pending_samples += pcm.size
        if self._pending_samples >= FEED_SAMPLES:
            self._check()
            self._send(_feed, self.uid, self._take_pending())

    def _take_pending(self) -> bytes:
        raw = np.ascontiguousarray(np.concatenate(self._pending), dtype=np.int16).tobytes()
        self._pending.clear()
        self._pending_samples = 0
        return raw

    async def finish(self, audio: Pcm) -> str:
        """The words of the utterance. ``audio``: the whole turn as committed, decoded at once
        if the worker failed on the way (it died: another one is started)."""
        if not self._open:
            raise RuntimeError("the utterance was already finished or dropped")
        self._open = False
        try:
            self._check()
            future = self._send(_finish, self.uid, self._take_pending() if self._pending else b"")
            if future is not None:
                try:
                    text: str = await asyncio.wrap_future(future)
                    self._check()
                    if self._failure is None:
                        return text
                except asyncio.CancelledError:  # the finish may never have reached the worker
                    if self._worker is not None:  # (in order: after it, if it did)
                        with contextlib.suppress(Exception):
                            self._worker.submit(_drop, self.uid)
                    raise
                except Exception as exc:  # decoded whole below
                    self._failure = self._failure or exc
        finally:
            _claim(self._index, -1)
        failure = self._failure
        if isinstance(failure, BrokenProcessPool) and self._worker is not None:
            _replace_slot(self._index, self._worker)
        elif self._worker is not None:  # the worker lives: let go of the decoder
            with contextlib.suppress(Exception):
                self._worker.submit(_drop, self.uid)
        log.warning("streamed recognition failed (%s); decoding the turn whole", failure)
        return await self._recognizer.transcribe(audio, self.words)

    def drop(self) -> None:
        """Forget the utterance (idempotent; nothing to do once finished)."""
        if not self._open:
            return
        self._open = False
        self._pending.clear()
        self._send(_drop, self.uid)
        _claim(self._index, -1)
