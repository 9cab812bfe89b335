"""The wake word: while no call is open, the microphone is listened to on this machine for a
phrase (setting ``wakeWord``, e.g. "hey viva") that opens the call.

:class:`WakeWord` follows its conversation: it listens while the setting is on, the
conversation is in realtime mode with no call (``idle`` or ``error``), the microphone is not
muted and listening was not stopped (``realtime/stop`` while listening pauses it until the next
start). Listening, the status' ``state`` is ``listening`` and its ``audio`` ``wake``: the
devices are open, nothing leaves the machine, nothing is billed.

Every 100 ms it takes what the microphone captured (:attr:`AudioIO.source`) and gives it to a
:class:`~vivavoce.audio.wake.Spotter` (pocketsphinx, on the loop in 100 ms pieces: ≈ 2–3 ms of
CPU each). It keeps the last seconds it heard; when the phrase is heard, what was said after it
goes back into the microphone's queue, and the call is opened (as ``realtime/start``): the call
sends that audio first, so the rest of the utterance (or the next one) is the first user turn.
The queue then catches up with the live microphone by skipping silence
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
    from ..rtc.tracks import Pcm
    from .status import AudioIO, Mode, Status

log = logging.getLogger(__name__)

#: How often the microphone's audio is handed to the spotter (s).
PERIOD = 0.1
#: Seconds of microphone audio kept, to give the call what was said after the phrase.
KEEP_SECONDS = 10.0
#: The microphone's rate as the conversation's audio delivers it.
MIC_RATE = 48000


class Host(ModeHost, Protocol):
    """What the wake word needs from its conversation."""

    @property
    def has_devices(self) -> bool: ...

    async def close_audio(self) -> None: ...
    async def start(self, *, mode: Mode | None = None) -> Status: ...


class WakeWord:
    """Listens for the wake word while its conversation has no call (see module doc)."""

    def __init__(self, host: Host) -> None:
        self._host = host
        self._tasks = TaskSet("vivavoce wake word")
        self._follower: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self._spotter: Spotter | None = None
        self._listening = False
        self._heeding: tuple[str | None, float] | None = None  # the setting listened for
        #: ``realtime/stop`` while listening: not again until the next start.
        self.paused = False
        #: (stream position at 48 kHz, samples) of the last :data:`KEEP_SECONDS` heard.
        self._kept: deque[tuple[int, Pcm]] = deque()
        self._position = 0  # 48 kHz samples heard since listening began
        self._resampler: Any = None
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
        io = await host.open_audio()
        if io is None or not self.wanted():
            return  # no devices (the status says why), or something changed meanwhile
        io.source.clear()
        spotter.restart()
        self._kept.clear()
        self._position = 0
        self._listening = True
        self._heeding = (phrase, threshold)
        host.update(state="listening")
        host.gate_microphone()
        log.info("listening for the wake word %r on this machine", phrase)
        self._listener = self._tasks.spawn(self._listen(io, spotter), "wake word listening")

    async def _end(self) -> None:
        self._listening = False
        listener, self._listener = self._listener, None
        if listener is not None and listener is not asyncio.current_task():
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        host = self._host
        if host.status.state == "listening":
            host.update(state="idle")
        if host.status.state in ("idle", "error"):
            await host.close_audio()  # no call wants the microphone now

    async def _listen(self, io: AudioIO, spotter: Spotter) -> None:
        from ..audio.wake import CHUNK
        from ..rtc.tracks import Resampler

        to_16k = Resampler(MIC_RATE, spotter.rate)
        while self._listening:
            await asyncio.sleep(PERIOD)
            if self._host.status.state != "listening":
                return  # a call is being opened: the microphone is the call's now
            pcm = io.source.take_all()
            if pcm is None:
                continue
            self._keep(pcm)
            heard = to_16k(pcm)
            # One piece at a time, the loop free in between: after a stall the backlog is
            # spotted without holding the loop longer than one piece (≈ 2–3 ms).
            for i in range(0, heard.size, CHUNK):
                if self._host.status.state != "listening":
                    return  # a call is being opened meanwhile
                end = spotter.feed(heard[i : i + CHUNK])
                if end is not None:
                    self._heard(io, end * MIC_RATE // spotter.rate)
                    return
                if i + CHUNK < heard.size:
                    await asyncio.sleep(0)

    def _keep(self, pcm: Pcm) -> None:
        self._kept.append((self._position, pcm))
        self._position += pcm.size
        while self._kept and self._kept[0][0] + self._kept[0][1].size < (
            self._position - KEEP_SECONDS * MIC_RATE
        ):
            self._kept.popleft()

    def _after(self, position: int) -> list[Pcm]:
        """What was heard from ``position`` (48 kHz samples) on."""
        out = []
        for start, pcm in self._kept:
            if start + pcm.size > position:
                out.append(pcm[max(0, position - start) :])
        return out

    def _heard(self, io: AudioIO, end: int) -> None:
        """The phrase ended at ``end``: what followed goes to the call, which opens now."""
        self.heard += 1
        self._listening = False
        after = self._after(end)
        self._kept.clear()
        log.info("wake word heard: opening the call (%.1f s said after it)",
                 sum(p.size for p in after) / MIC_RATE)  # fmt: skip
        source = io.source
        rest = source.take_all()  # captured since the last look: after the phrase too
        for pcm in [*after, *([rest] if rest is not None else [])]:
            source.feed(pcm)
        from ..audio.buffers import MicSource

        if isinstance(source, MicSource):  # real devices: skip quiet frames to catch up
            source.catch_up()
        self._tasks.spawn(self._open_call(), "wake word call")

    async def _open_call(self) -> None:
        try:
            await self._host.start(mode="realtime")
        except VivavoceError as exc:  # the status and messages already say why
            log.info("the call the wake word asked for did not open: %s", exc)

    async def close(self) -> None:
        """Stop listening and let go of the spotter (idempotent)."""
        self._listening = False
        await self._tasks.cancel_all()
        spotter, self._spotter = self._spotter, None
        if spotter is not None:
            spotter.close()
