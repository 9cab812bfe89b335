"""The wake word: while no call is open, the microphone is listened to on this machine for a
phrase (setting ``wakeWord``, e.g. "hey viva") that opens the call.

:class:`WakeWord` follows its conversation: it listens while the setting is on, the
conversation is in realtime mode with no call (``idle`` or ``error``), the microphone is not
muted and listening was not stopped (``realtime/stop`` while listening pauses it until the next
start). Listening, the status' ``state`` is ``listening`` and its ``audio`` ``wake``: only the
microphone is open (:class:`~.status.Microphone`: one 16 kHz input stream, no speaker, no echo
canceller; waiting may last all day), nothing leaves the machine, nothing is billed.

Every 100 ms it takes what the microphone captured and gives it to a
:class:`~vivavoce.audio.wake.Spotter` (pocketsphinx, on the loop in 100 ms pieces: ≈ 2–3 ms of
CPU each). It keeps the last seconds it heard; when the phrase is heard, the call's devices
open while the microphone alone goes on capturing; once the call's microphone delivers, what
was said after the phrase up to that moment (cut by the capture times of both) goes first into
the call's microphone queue, and the call is opened (as ``realtime/start``): the call sends that
audio first, so the rest of the utterance (or the next one) is the first user turn. The queue
then catches up with the live microphone by skipping silence
(:meth:`~vivavoce.audio.buffers.MicSource.catch_up`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import ConfigError, VivavoceError
from ..tasks import TaskSet
from .host import ModeHost

if TYPE_CHECKING:
    from ..audio.wake import Spotter
    from ..rtc.tracks import Pcm, PcmSource
    from .status import AudioIO, Microphone, Mode, Status

log = logging.getLogger(__name__)

#: How often the microphone's audio is handed to the spotter (s).
PERIOD = 0.1
#: Seconds of microphone audio kept, to give the call what was said after the phrase.
KEEP_SECONDS = 10.0
#: The rate the spotter listens at and the microphone delivers.
RATE = 16000
#: The rate of the call's devices' microphone (:attr:`AudioIO.source`).
DEVICES_RATE = 48000
#: Seconds the call's microphone may take to deliver its first block.
FIRST_BLOCK_SECONDS = 1.0
#: Seconds both microphones capture together when the call's opens: the microphone alone
#: (100 ms blocks, "high" latency) has then delivered past where the other began.
OVERLAP_SECONDS = 0.8
#: The start of the call's microphone found in what the microphone alone heard: this much of
#: it, correlating at least this well, unless quieter than this (RMS, int16).
MATCH_SECONDS, MATCH_MIN, MATCH_QUIET_RMS = 0.4, 0.6, 30.0
#: …within this many seconds before the microphone alone stopped.
MATCH_WITHIN_SECONDS = 3.0


class Host(ModeHost, Protocol):
    """What the wake word needs from its conversation."""

    @property
    def has_devices(self) -> bool: ...

    async def open_microphone(self) -> Microphone | None: ...
    async def close_audio(self) -> None: ...
    async def start(self, *, mode: Mode | None = None) -> Status: ...


class DevicesMicrophone:
    """The call's devices standing in for the microphone alone (a conversation given no
    microphone factory): their 48 kHz queue, resampled to 16 kHz; capture times unknown. Closing
    it leaves the devices to the conversation."""

    def __init__(self, io: AudioIO) -> None:
        self._source = io.source
        self._source.clear()
        self._to_16k: Any = None

    @property
    def error(self) -> Exception | None:
        return None  # the devices report their own problems

    def take(self) -> Pcm | None:
        pcm = self._source.take_all()
        if pcm is None:
            return None
        if self._to_16k is None:
            from ..rtc.tracks import Resampler

            self._to_16k = Resampler(DEVICES_RATE, RATE)
        out: Pcm = self._to_16k(pcm)
        return out

    async def close(self) -> None:
        """The devices are the conversation's: nothing to close."""


class WakeWord:
    """Listens for the wake word while its conversation has no call (see module doc)."""

    def __init__(self, host: Host) -> None:
        self._host = host
        self._tasks = TaskSet("vivavoce wake word")
        self._follower: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self._spotter: Spotter | None = None
        self._mic: Microphone | None = None  # while listening
        self._listening = False
        self._opening = False  # the phrase was heard: the call is being opened
        self._heeding: tuple[str | None, float] | None = None  # the setting listened for
        #: ``realtime/stop`` while listening: not again until the next start.
        self.paused = False
        #: (stream position, 16 kHz samples) of the last :data:`KEEP_SECONDS` heard.
        self._kept: deque[tuple[int, Pcm]] = deque()
        self._position = 0  # samples heard since listening began
        self._offset = 0  # the spotter's clock when listening began
        #: Times the phrase was heard (tests, logs).
        self.heard = 0

    @property
    def listening(self) -> bool:
        return self._listening

    def wanted(self) -> bool:
        host, status = self._host, self._host.status
        return bool(
            host.settings.wake_word
            and host.has_devices
            and not host.closed
            and not self.paused
            and not self._opening
            and not status.muted
            and status.mode == "realtime"
            and status.state in ("idle", "error", "listening")
        )

    def _setting(self) -> tuple[str | None, float]:
        settings = self._host.settings
        return settings.wake_word, settings.wake_word_threshold

    def changed(self) -> None:
        """The status or the settings changed: listen, or stop listening, accordingly."""
        self._changed.set()
        running = self._follower is not None and not self._follower.done()
        if not running and (self.wanted() or self._listening):
            with contextlib.suppress(RuntimeError):  # no running loop: nothing to listen with
                self._follower = self._tasks.spawn(self._follow(), "wake word")

    async def _follow(self) -> None:
        while not self._host.closed:
            await self._changed.wait()
            self._changed.clear()
            try:
                if self._listening and self._heeding != self._setting():
                    await self._end()  # another phrase or threshold: listen for that one
                if self.wanted() and not self._listening:
                    await self._begin()
                elif not self.wanted() and self._listening:
                    await self._end()
            except VivavoceError as exc:
                log.warning("vivavoce: the wake word is not listened for: %s", exc)
                self._host.update(error=str(exc))
                self.paused = True
            if not self.wanted() and not self._listening:
                return  # started again by the next change that wants it

    async def _begin(self) -> None:
        from ..audio.wake import WakeWordError, load_spotter

        host = self._host
        phrase, threshold = host.settings.wake_word or "", host.settings.wake_word_threshold
        spotter = self._spotter
        if spotter is None or (spotter.phrase, spotter.threshold) != (phrase, threshold):
            try:
                spotter = await load_spotter(phrase, threshold)
            except WakeWordError as exc:
                raise ConfigError(str(exc), key="wakeWord") from exc
            self._spotter = spotter
        mic = await host.open_microphone()
        if mic is None:
            return  # no devices (the status says why)
        if not self.wanted():
            await mic.close()  # something changed meanwhile
            return
        self._mic = mic
        spotter.restart()
        self._kept.clear()
        self._position, self._offset = 0, spotter.samples
        self._listening = True
        self._heeding = (phrase, threshold)
        host.update(state="listening")
        host.gate_microphone()
        log.info("listening for the wake word %r on this machine", phrase)
        self._listener = self._tasks.spawn(self._listen(mic, spotter), "wake word listening")

    async def _end(self) -> None:
        self._listening = False
        listener, self._listener = self._listener, None
        if listener is not None and listener is not asyncio.current_task():
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        await self._close_mic()
        host = self._host
        if host.status.state == "listening":
            host.update(state="idle")
        if host.status.state in ("idle", "error"):
            await host.close_audio()  # no call wants the devices now

    async def _close_mic(self) -> None:
        mic, self._mic = self._mic, None
        if mic is not None:
            await mic.close()

    async def _listen(self, mic: Microphone, spotter: Spotter) -> None:
        from ..audio.wake import CHUNK

        while self._listening:
            await asyncio.sleep(PERIOD)
            if self._host.status.state != "listening":
                return  # a call is being opened: the microphone is the call's now
            if mic.error is not None:
                await self._lost(mic.error)
                return
            heard = mic.take()
            if heard is None:
                continue
            self._keep(heard)  # before spotting: what follows the phrase is in there
            # One piece at a time, the loop free in between: after a stall the backlog is
            # spotted without holding the loop longer than one piece (≈ 2–3 ms).
            for i in range(0, heard.size, CHUNK):
                if self._host.status.state != "listening":
                    return  # a call is being opened meanwhile
                end = spotter.feed(heard[i : i + CHUNK])
                if end is not None:
                    self._heard(mic, end - self._offset)
                    return
                if i + CHUNK < heard.size:
                    await asyncio.sleep(0)

    async def _lost(self, error: Exception) -> None:
        """The microphone stopped on its own: not listened to again until the next start."""
        log.warning("vivavoce: %s", error)
        self._listening = False
        self.paused = True
        self._host.update(state="idle", audio_error=str(error))
        await self._close_mic()  # (may wait for a hung sound server)

    def _keep(self, pcm: Pcm) -> None:
        self._kept.append((self._position, pcm))
        self._position += pcm.size
        while self._kept and self._kept[0][0] + self._kept[0][1].size < (
            self._position - KEEP_SECONDS * RATE
        ):
            self._kept.popleft()

    def _heard(self, mic: Microphone, end: int) -> None:
        """The phrase ended at ``end``: the call opens, given what followed it."""
        self.heard += 1
        self._listening = False
        self._opening = True
        self._mic = None  # the call's opening owns it now, until the call's microphone runs
        first = self._kept[0][0] if self._kept else end
        heard = [pcm for _, pcm in self._kept]
        self._kept.clear()
        log.info("wake word heard: opening the call (%.1f s said after it so far)",
                 (self._position - end) / RATE)  # fmt: skip
        self._tasks.spawn(self._open_call(mic, heard, end - first), "wake word call")

    async def _open_call(self, mic: Microphone, heard: list[Pcm], end: int) -> None:
        """Open the call's devices, then the call; ``heard`` from ``end`` (samples) on followed
        the phrase."""
        host = self._host
        try:
            try:
                io = await host.open_audio()
                if io is not None:
                    await captured(io.source, OVERLAP_SECONDS)
                    await mic.close()
                    rest = mic.take()
                    hand_over([*heard, *([rest] if rest is not None else [])], end, io.source)
            finally:
                await mic.close()
            await host.start(mode="realtime")
        except VivavoceError as exc:  # the status and messages already say why
            log.info("the call the wake word asked for did not open: %s", exc)
        finally:
            self._opening = False
            self.changed()

    async def close(self) -> None:
        """Stop listening and let go of the microphone and the spotter (idempotent)."""
        self._listening = False
        await self._tasks.cancel_all()
        await self._close_mic()
        spotter, self._spotter = self._spotter, None
        if spotter is not None:
            spotter.close()


async def captured(source: PcmSource, seconds: float) -> None:
    """Until the call's microphone captured ``seconds`` (at most :data:`FIRST_BLOCK_SECONDS`
    more): the microphone alone has then delivered past where it began."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds + FIRST_BLOCK_SECONDS
    while source.queued_seconds < seconds and (left := deadline - loop.time()) > 0:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(source.fed(), left)


def hand_over(heard: list[Pcm], end: int, source: PcmSource) -> None:
    """Into the call's microphone queue, first: what the microphone alone ``heard`` (16 kHz,
    contiguous) from ``end`` on, up to where the call's microphone begins (found by matching
    the start of what that one captured in it, see :func:`_overlap`), then what that one
    captured so far; the queue then catches up."""
    from ..audio.buffers import MicSource

    live = source.take_all()
    pcm = _concat(heard) if heard else None
    stop = found = None
    if pcm is not None and live is not None:
        found = _overlap(pcm, live, end)
    if pcm is not None:
        stop = pcm.size if found is None else found
        if stop > end:
            source.feed(pcm[end:stop], RATE)
    if live is not None:
        source.feed(live)
    log.info("wake word: %.2f s said after it go first (%s)", max(0, (stop or 0) - end) / RATE,
             "up to where the call's microphone begins" if found is not None else
             "whole: where the call's microphone begins is not heard")  # fmt: skip
    if isinstance(source, MicSource):  # real devices: skip quiet frames to catch up
        source.catch_up()


def _overlap(heard: Pcm, live: Pcm, end: int) -> int | None:
    """Where in ``heard`` (16 kHz) ``live`` (48 kHz, captured by the call's microphone from its
    start) begins: the position, from ``end`` on, where the first :data:`MATCH_SECONDS` of
    ``live`` correlate best (normalised ≥ :data:`MATCH_MIN`); None when quiet or not found
    (then nothing but quiet is doubled: the queue's catch-up skips it). PortAudio's capture
    times do not tell: measured, two streams of one source disagree by 20–170 ms."""
    import numpy as np

    from ..rtc.tracks import Resampler

    n = int(MATCH_SECONDS * RATE)
    probe = Resampler(DEVICES_RATE, RATE)(live)[:n].astype(np.float64)
    if probe.size < n or heard.size - end < n:
        return None
    probe -= probe.mean()
    if np.sqrt(np.mean(probe**2)) < MATCH_QUIET_RMS:
        return None  # quiet: nothing to match, nothing that matters doubled
    # It began at most a second or two before the microphone alone stopped: the search (on the
    # loop, ≈ 2–3 ms) looks at the last few seconds only.
    end = max(end, heard.size - int(MATCH_WITHIN_SECONDS * RATE))
    hay = heard[end:].astype(np.float64)
    size = 1 << int(np.ceil(np.log2(hay.size + n)))
    scores = np.fft.irfft(np.fft.rfft(hay, size) * np.conj(np.fft.rfft(probe, size)), size)
    scores = scores[: hay.size - n + 1]
    sums = np.concatenate([[0.0], np.cumsum(hay)])
    squares = np.concatenate([[0.0], np.cumsum(hay**2)])
    window_sum = sums[n:] - sums[:-n]
    energy = np.maximum(squares[n:] - squares[:-n] - window_sum**2 / n, 1e-9)
    normalised = scores / np.sqrt(energy * float(np.dot(probe, probe)))
    best = int(np.argmax(normalised))
    return end + best if normalised[best] >= MATCH_MIN else None


def _concat(pieces: list[Pcm]) -> Pcm:
    import numpy as np

    out: Pcm = np.concatenate(pieces)
    return out
