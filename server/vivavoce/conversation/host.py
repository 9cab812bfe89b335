"""What the parts of a conversation share: :class:`ModeHost` (what realtime mode, dictation and
the wake word read of their conversation and tell it; each part's own ``Host`` protocol adds
what only it needs), :func:`reopen`, the backoff with which a dropped call is replaced,
:func:`keep_vocabulary`, how a call's transcription follows the code in front of the user, and
:class:`Activity`, when a call's user last did something (its idle hang-up).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import VivavoceError

if TYPE_CHECKING:
    from ..realtime import Call
    from ..realtime import events as ev
    from ..settings import Settings
    from .status import AudioIO, MessageLevel, Status
    from .usage import UsageMeter

log = logging.getLogger(__name__)


class ModeHost(Protocol):
    """What every part of a conversation (realtime mode, dictation, the wake word) reads of it
    and tells it; each part's own ``Host`` adds what only it needs."""

    @property
    def settings(self) -> Settings: ...
    @property
    def status(self) -> Status: ...
    @property
    def closed(self) -> bool: ...
    @property
    def io(self) -> AudioIO | None: ...

    def update(self, **changes: Any) -> None: ...
    def gate_microphone(self) -> None: ...
    async def open_audio(self) -> AudioIO | None: ...


#: Backoff of :func:`reopen`: the first wait, and the longest.
REOPEN_FIRST_DELAY, REOPEN_MAX_DELAY = 0.5, 8.0


async def reopen(
    open_call: Callable[[], Awaitable[None]],
    error: VivavoceError,
    *,
    attempts: int,
    on_retry: Callable[[VivavoceError], None],
    what: str,
) -> VivavoceError | None:
    """Open a new call after ``error`` ended one, backing off (0.5 s, doubling, at most 8 s)
    ``attempts`` times; ``on_retry`` hears each failure. None once one opened, else the last
    error."""
    delay, last = REOPEN_FIRST_DELAY, error
    for attempt in range(1, attempts + 1):
        await asyncio.sleep(delay)
        delay = min(delay * 2, REOPEN_MAX_DELAY)
        log.info("reconnecting %s (attempt %d): %s", what, attempt, last)
        try:
            await open_call()
        except VivavoceError as exc:
            last = exc
            on_retry(exc)
            continue
        return None
    return last


#: Editor changes gathered this long before the call's vocabulary is compared (cursor moves
#: come in bursts).
VOCABULARY_DELAY = 0.3


async def keep_vocabulary(
    call: Call,
    current: Callable[[], Call | None],
    stale: asyncio.Event,
    boundary: asyncio.Event,
    wanted: Callable[[], ev.Transcription | None],
) -> None:
    """While ``call`` is ``current()``: each time ``stale`` is set, at the next ``boundary``
    (between turns or utterances), give the call the transcription ``wanted()`` when it
    changed: a ``session.update`` (the API takes one mid-session), not a new call."""
    from ..realtime import events as ev

    while current() is call:
        await stale.wait()
        await asyncio.sleep(VOCABULARY_DELAY)
        await boundary.wait()
        stale.clear()
        transcription = wanted()
        audio_input = call.session.audio.input
        if current() is not call or audio_input.transcription == transcription:
            continue
        audio_input.transcription = transcription
        try:
            await call.send(ev.SessionUpdate(session=call.session))
        except VivavoceError as exc:
            log.info("vocabulary not sent: %s", exc)
            return


class IdleHost(ModeHost, Protocol):
    """What hanging up an idle call needs of its mode's host."""

    busy: asyncio.Lock

    def say(self, level: MessageLevel, text: str) -> None: ...


class Activity:
    """When someone last spoke, typed or used a tool in a call: the call is hung up once nobody
    did for ``idleHangupSeconds`` (billing stops; the next push to talk or start calls again)."""

    def __init__(self) -> None:
        #: Monotonic time of the last activity.
        self.last = time.monotonic()

    def touch(self) -> None:
        """Someone spoke, typed or used a tool: not idle."""
        self.last = time.monotonic()

    async def idle(
        self,
        limit: Callable[[], float],
        busy: Callable[[], bool],
        current: Callable[[], bool],
    ) -> float | None:
        """Once nothing happened for ``limit()`` seconds (read at each look: a change applies at
        once; 0 never), that limit; None when the call ended first (``current()`` false).
        While ``busy()`` (a turn is being said, a reply or a tool runs), the wait starts anew."""
        while current():
            seconds, now = limit(), time.monotonic()
            if busy():
                self.last = now
            left = self.last + seconds - now
            if seconds <= 0 or left > 0:
                await asyncio.sleep(1.0 if seconds <= 0 else min(left, 1.0))
                continue
            return seconds
        return None

    async def hang_up_when_idle(
        self,
        host: IdleHost,
        busy: Callable[[], bool],
        current: Callable[[], bool],
        close: Callable[[], Awaitable[None]],
        *,
        said: str,
        then: str,
    ) -> None:
        """Close a call in which nobody spoke for ``idleHangupSeconds`` (billing stops): the
        status says ``idle`` and ``hungUpAfter``, and the user is told once, "vivavoce:
        ``said`` after 2 min of silence; ``then``" (``said``: "hung up")."""
        limit = await self.idle(lambda: host.settings.idle_hangup_seconds, busy, current)
        if limit is None:
            return
        async with host.busy:
            if not current() or host.status.state != "live":
                return
            log.info("%s: nobody spoke for %.0f s", said, limit)
            await close()
            host.update(state="idle", call_id=None, push_to_talk=False, hung_up_after=limit)
        host.say("info", f"vivavoce: {said} after {idle_words(limit)} of silence; {then}")


class Heard:
    """The user's speech in a call, for the cost meter and the idle hang-up: the seconds the
    server heard (its ``speech_started``/``speech_stopped``, or how long push to talk was held)
    and each finished transcription's usage go into ``usage``; speech touches ``activity``."""

    def __init__(self, usage: UsageMeter, activity: Activity) -> None:
        self._usage, self._activity = usage, activity
        #: Where the user's speech began (the server's audio clock, ms), and when the
        #: push-to-talk key went down (monotonic).
        self.speech_from: int | None = None
        self.key_down: float | None = None

    def reset(self) -> None:
        """A new call: nothing is being said."""
        self.speech_from = self.key_down = None

    @property
    def speaking(self) -> bool:
        """The server hears speech, or the push-to-talk key is down."""
        return self.speech_from is not None or self.key_down is not None

    def observe(self, call: Call, event: ev.ServerEvent) -> None:
        """One of the call's events."""
        from ..realtime import events as ev

        match event:
            case ev.InputTranscriptionCompleted(usage=reported, item_id=item_id) if reported:
                tr = call.session.audio.input.transcription
                self._usage.transcription((tr.model if tr else None) or "", reported, item_id)
            case ev.SpeechStarted(audio_start_ms=start):
                self.speech_from = start
                self._activity.touch()
            case ev.SpeechStopped(audio_end_ms=end):
                if self.speech_from is not None:
                    self._usage.audio(heard=max(0, end - self.speech_from) / 1000)
                self.speech_from = None
                self._activity.touch()
            case _:
                pass

    def key(self, pressed: bool, *, heard: bool = True) -> None:
        """Push to talk pressed or released (``heard``: the microphone was there to hear)."""
        self._activity.touch()
        if pressed:
            self.key_down = time.monotonic()
            return
        if heard and self.key_down is not None:
            self._usage.audio(heard=time.monotonic() - self.key_down)
        self.key_down = None


def idle_words(seconds: float) -> str:
    """ "2 min", "90 s": how long a call waited in silence before it was hung up."""
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)} min"
    return f"{seconds:g} s"
