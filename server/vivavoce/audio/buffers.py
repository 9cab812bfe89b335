"""The buffers between PortAudio's threads and the event loop, and their counters.

* :class:`Handover` — PortAudio thread → loop. The callback appends a copy to a bounded deque
  and schedules one drain with ``loop.call_soon_threadsafe`` (never more than one pending, so
  the loop's own queue stays bounded too). When the loop falls behind, the oldest item is
  dropped and counted (``dropped``, reported through ``on_drop``), never the callback blocked.
  (Draining only when the call asks for its next frame saves the wake-ups, but it made echo
  cancellation leak at the start of a reply in 4 of ~30 runs of tests/audio/test_echo.py,
  against none of ~30 with a drain per block: so each block is handed over at once.)
* :class:`PlayoutBuffer` — loop → PortAudio output callback, one whole block per callback.
  Adaptive: it starts playing once ``target`` blocks are queued (one at first), grows the
  target by a block on each underrun (jitter seen), drops the blocks beyond the target that
  stayed unused for half a second (the level's low-water mark; never inside an utterance queued
  by ``play``), and lowers the target again after a quiet spell. :meth:`PlayoutBuffer.flush`
  empties it at once (interruptions).
* :class:`MicSource` — the call's outgoing :class:`~vivavoce.rtc.tracks.PcmSource` fed by the
  microphone: hands out only whole frames and keeps the backlog (= added latency) bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

import numpy as np

from ..rtc.tracks import FRAME_SAMPLES, Pcm, PcmSource

log = logging.getLogger(__name__)
T = TypeVar("T")


class Handover(Generic[T]):
    """A bounded, drop-oldest hand-over from a foreign thread to ``consumer`` on ``loop``."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        consumer: Callable[[T], None],
        maxlen: int = 50,
        on_drop: Callable[[int], None] | None = None,
    ) -> None:
        self._loop = loop
        #: Told the total dropped so far (on the loop) each time it grew.
        self.on_drop = on_drop
        self._consumer = consumer
        self._items: deque[T] = deque()
        self._maxlen = maxlen
        self._scheduled = False
        self._logged_drops = 0
        #: Items dropped because the loop fell behind (oldest first).
        self.dropped = 0

    @property
    def pending(self) -> int:
        """Items handed over and not yet consumed (during a drain: those after the current)."""
        return len(self._items)

    def put(self, item: T) -> None:
        """Called on the PortAudio thread: never blocks."""
        if len(self._items) >= self._maxlen:
            try:
                self._items.popleft()
                self.dropped += 1
            except IndexError:
                pass
        self._items.append(item)
        if not self._scheduled:
            self._scheduled = True
            with contextlib.suppress(RuntimeError):  # loop closed: nobody to hand over to
                self._loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        self._scheduled = False
        if self.dropped != self._logged_drops:
            log.warning(
                "audio: the event loop fell behind; %d block(s) dropped so far",
                self.dropped,
            )
            self._logged_drops = self.dropped
            if self.on_drop is not None:
                self.on_drop(self.dropped)
        while True:
            try:
                item = self._items.popleft()
            except IndexError:
                return
            self._consumer(item)


class PlayoutBuffer:
    """Adaptive playout queue of mono int16 blocks of ``block`` samples (see module doc)."""

    def __init__(
        self,
        block: int,
        *,
        min_target: int = 1,
        max_target: int = 10,
        cap: int = 30,
        shrink_after: int = 50,
        relax_after: int = 1000,
    ) -> None:
        self.block = block
        self.min_target, self.max_target, self.cap = min_target, max_target, cap
        self.target = min_target
        self._blocks: deque[Pcm] = deque()
        self._partial = np.zeros(0, np.int16)  # loop side: less than one block
        self._playing = False
        self._elastic = True  # False while a queued utterance (play()) is in the buffer
        self._shrink_after, self._relax_after = shrink_after, relax_after
        self._low_water = 1 << 30
        self._since_check = 0
        self._since_underrun = 0
        self.underruns = 0
        self.trimmed = 0
        self.played = 0
        #: Sum of queued blocks at each pull while playing (mean depth = sum / played).
        self.depth_sum = 0

    # ----------------------------------------------------------- loop side

    def push(self, mono: Pcm, *, bounded: bool = True) -> None:
        """Queue samples; ``bounded`` (live audio) drops the oldest beyond ``cap`` blocks."""
        if self._partial.size:
            mono = np.concatenate([self._partial, mono])
        whole = mono.size - mono.size % self.block
        for i in range(0, whole, self.block):
            self._blocks.append(mono[i : i + self.block])
        self._partial = mono[whole:].copy()
        if not bounded:
            self._elastic = False  # never shorten a queued utterance
        while bounded and len(self._blocks) > self.cap:
            try:
                self._blocks.popleft()
                self.trimmed += 1
            except IndexError:
                break

    def flush(self) -> float:
        """Drop everything queued now; returns the number of samples dropped."""
        n = len(self._blocks)
        self._blocks.clear()
        dropped = n * self.block + self._partial.size
        self._partial = np.zeros(0, np.int16)
        self._elastic = True
        return dropped

    @property
    def queued_blocks(self) -> int:
        return len(self._blocks)

    # ----------------------------------------------------------- PortAudio thread

    def pull(self) -> Pcm | None:
        """The next block to play, or None (silence). Called by the output callback."""
        if not self._playing:
            if len(self._blocks) < self.target:
                return None
            self._playing = True
        try:
            out = self._blocks.popleft()
        except IndexError:
            self._playing = False
            self._elastic = True
            self.underruns += 1
            self._since_underrun = 0
            self.target = min(self.max_target, self.target + 1)
            return None
        level = len(self._blocks)
        self.played += 1
        self.depth_sum += level
        self._low_water = min(self._low_water, level)
        self._since_check += 1
        self._since_underrun += 1
        if self._since_check >= self._shrink_after and self._elastic:
            # The level never fell below low-water for a while: blocks beyond the target that
            # were never needed are pure delay. Drop them now.
            for _ in range(max(0, self._low_water - self.target)):
                try:
                    self._blocks.popleft()
                    self.trimmed += 1
                except IndexError:
                    break
            self._since_check, self._low_water = 0, 1 << 30
        if self._since_underrun >= self._relax_after and self.target > self.min_target:
            self.target -= 1
            self._since_underrun = 0
        return out


class MicSource(PcmSource):
    """The microphone's side of the call: whole 20 ms frames, the backlog kept near
    ``max_backlog`` without cutting words.

    The track takes a frame every 20 ms on its own clock; the microphone's blocks reach the
    loop on the device's, and on a loaded machine several at once (the loop was busy). A
    backlog beyond ``max_backlog`` is therefore not dropped as it comes: that cut 20 ms
    pieces out of words (measured, two dictation runs at load 2.7: 42 frames dropped, "the
    code is ready" heard as "the otis redding", "call me tomorrow" as "call tomorrow"), and
    the track, behind its own clock after the same stall, takes the backlog in a burst
    anyway. It is shed by shortening pauses: quiet frames beyond the first :data:`KEEP_PAUSE`
    of each, never the one just before a loud frame (where a word starts). Only a backlog
    beyond ``max_speech_backlog`` (an underrun, a clock running fast, through a long stretch
    of speech) loses its oldest audio, speech or not.

    After :meth:`catch_up` (the wake word queued what was said after it before the call
    opened) up to :data:`MAX_CATCH_UP` is kept the same way, until it is gone: no speech is
    lost, the pauses between words stay as said, and the delay lasts only until the user
    pauses."""

    #: A frame quieter than this (RMS, int16 units; ≈ -50 dBFS) may be skipped to catch up.
    QUIET_RMS = 100.0
    #: …or one within 6 dB of the quietest frame seen (a noisy room), up to this (≈ -36 dBFS).
    NOISY_RMS = 500.0
    #: The most backlog :meth:`catch_up` keeps (48 kHz samples: 15 s); beyond it, the oldest go.
    MAX_CATCH_UP = 15 * 48000
    #: The most backlog kept otherwise (48 kHz samples: 300 ms); beyond it, the oldest go.
    MAX_SPEECH_BACKLOG = 15 * FRAME_SAMPLES
    #: Quiet frames of a pause that are always sent while catching up (10 = 200 ms).
    KEEP_PAUSE = 10
    #: The call waits this long for a late block before it sends silence (measured at load
    #: 3–4: the blocks stopped for 60–80 ms, then came together, twice in one sentence).
    late_grace = 0.12

    def __init__(
        self, max_backlog: int = FRAME_SAMPLES, max_speech_backlog: int = MAX_SPEECH_BACKLOG
    ) -> None:
        super().__init__()
        self.max_backlog = max_backlog
        self.max_speech_backlog = max(max_backlog, max_speech_backlog)
        self.trimmed_samples = 0
        self.skipped_samples = 0
        self.short = 0
        self._catching_up = False
        self._floor = float("inf")
        self._quiet_run = 0

    def catch_up(self) -> None:
        """Keep what is queued now (it is sent first), catching up by skipping quiet frames."""
        self._catching_up = True
        self._floor = float("inf")
        self._quiet_run = 0

    def clear(self) -> float:
        self._catching_up = False
        return super().clear()

    def _threshold(self) -> float:
        return max(self.QUIET_RMS, min(2.0 * self._floor, self.NOISY_RMS))

    def _quiet(self, frame: Pcm) -> bool:
        """Quiet (may be skipped), as the room goes; notes the quietest frame seen."""
        rms = float(np.sqrt(np.mean(frame.astype(np.float64) ** 2)))
        self._floor = min(self._floor, rms)
        return rms < self._threshold()

    def _next_is_quiet(self, n: int) -> bool:
        """Whether the next ``n`` samples queued are quiet (left queued)."""
        parts, have = [], 0
        for chunk in self._chunks:
            parts.append(chunk[: n - have])
            have += parts[-1].size
            if have >= n:
                break
        head = np.concatenate(parts).astype(np.float64)
        return float(np.sqrt(np.mean(head**2))) < self._threshold()

    def take(self, n: int = FRAME_SAMPLES) -> Pcm | None:
        if self._queued < n:
            # Not a whole frame yet: send silence rather than a frame half of zeros.
            if self._queued:
                self.short += 1
            return None
        allowed = self.MAX_CATCH_UP if self._catching_up else self.max_speech_backlog
        excess = self._queued - n - allowed
        if excess > 0:
            super().take(excess)  # drop the oldest: too much delay now
            self.trimmed_samples += excess
        frame = super().take(n)
        assert frame is not None
        # Behind: skip the quiet frames of a pause (past its first KEEP_PAUSE), never the one
        # before a loud frame, until the backlog is back within bounds.
        while self._quiet(frame):
            self._quiet_run += 1
            if (
                self._queued <= self.max_backlog
                or self._queued < n
                or self._quiet_run <= self.KEEP_PAUSE
                or not self._next_is_quiet(n)
            ):
                break
            self.skipped_samples += n  # skipped: one frame nearer to the live microphone
            frame = super().take(n)
            assert frame is not None
        else:
            self._quiet_run = 0
        self._catching_up = self._catching_up and self._queued > self.max_backlog
        return frame
