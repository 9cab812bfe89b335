"""Text mode's voice: each finished sentence of a reply, said aloud.

Two ways, chosen by the ``speechModel`` setting (:func:`is_realtime_model`):

* A realtime model (the default, ``gpt-realtime-2.1-mini``: OpenAI's replacement for its
  text-to-speech models, which shut down on 2027-01-06): :class:`RealtimeVoice` keeps one
  Realtime call open while text mode speaks. It sends no microphone (the call's outgoing track
  carries silence, turn detection is off and the input buffer is cleared before each sentence)
  and adds nothing to that call's conversation: each sentence is an out-of-band response
  (``conversation: "none"``, the sentence as its only ``input``) whose instructions ask for it
  to be read word for word. Its audio comes back over WebRTC straight into the speaker.
* A text-to-speech model (``gpt-4o-mini-tts``, ``tts-1``, or a compatible local server such as
  Kokoro-FastAPI): :class:`HttpVoice`, one ``POST /audio/speech`` per sentence.

Either way one sentence is said at a time, in order, and :meth:`Voice.hush` stops it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import CallError, VivavoceError
from ..tasks import CloseOnce, TaskSet

if TYPE_CHECKING:
    import httpx

    from ..realtime import Call, CallOptions
    from ..realtime import events as ev
    from ..rtc.tracks import AudioSink
    from .chat import UsageCallback
    from .speech import Speech

log = logging.getLogger(__name__)

#: What the voice call is told: read the text, add nothing (a realtime model otherwise answers).
READ_ALOUD = (
    "You are a text-to-speech voice. Read the user's text aloud word for word, exactly as "
    "written, in a natural voice. Do not answer it, comment on it, or add anything."
)


def is_realtime_model(model: str) -> bool:
    """Whether ``model`` is spoken to over the Realtime API (else ``/audio/speech``)."""
    return "realtime" in model or model.startswith("gpt-audio")


class Voice(Protocol):
    """Says a reply sentence by sentence."""

    async def say(self, sentence: str) -> None:
        """Say ``sentence`` after the ones before it; returns once it is on its way."""
        ...

    async def hush(self) -> None:
        """Stop speaking now (the speaker's own buffer is flushed by its owner)."""
        ...

    async def close(self) -> None:
        """Release what the voice holds (idempotent)."""
        ...


class HttpVoice:
    """``POST /audio/speech`` per sentence, played on the speaker. ``on_spoken``: told the
    seconds of each sentence's audio (the cost meter's ``audioOutputSeconds``)."""

    def __init__(
        self,
        speech: Speech,
        voice: str,
        play: Callable[[Any, int], None],
        on_spoken: Callable[[float], None] = lambda _: None,
    ) -> None:
        self._speech = speech
        self._voice = voice
        self._play = play
        self._on_spoken = on_spoken

    async def say(self, sentence: str) -> None:
        from .speech import SPEECH_RATE

        pcm = await self._speech.synthesize(sentence, self._voice)
        self._play(pcm, SPEECH_RATE)
        self._on_spoken(len(pcm) / SPEECH_RATE)

    async def hush(self) -> None:
        return None  # what was synthesized is in the speaker's buffer: its owner flushes it

    async def close(self) -> None:
        return None


class RealtimeVoice:
    """A realtime model reading sentences aloud over one Realtime call (see the module)."""

    def __init__(
        self,
        options: CallOptions,
        *,
        model: str,
        voice: str,
        sink: AudioSink,
        http: httpx.AsyncClient,
        on_usage: UsageCallback | None = None,
        on_spoken: Callable[[float], None] = lambda _: None,
    ) -> None:
        self._options = options
        #: Told each reply's usage (what reading it aloud cost), and the seconds of voice
        #: received once each sentence has played (``audioOutputSeconds``).
        self._on_usage = on_usage
        self._on_spoken = on_spoken
        self._spoken_mark = 0.0  # the call's audio already told
        self._model = model
        self._voice = voice
        self._sink = sink
        self._http = http
        self._call: Call | None = None
        self._lock = asyncio.Lock()  # one sentence at a time, and one call
        self._tasks = TaskSet("vivavoce voice")
        #: The response being written (its id once created), and its end.
        self._waiting = False
        self._response: str | None = None
        self._finished = asyncio.Event()
        self._error: str | None = None
        self._closing = CloseOnce()

    def _session(self) -> ev.Session:
        from ..realtime import events as ev

        return ev.Session(
            model=self._model,
            instructions=READ_ALOUD,
            output_modalities=["audio"],
            audio=ev.SessionAudio(
                input=ev.AudioInput(turn_detection=None, transcription=None),
                output=ev.AudioOutput(voice=self._voice),
            ),
        )

    async def _live_call(self) -> Call:
        """The voice's call, opened on first use and again after the server ended it."""
        from ..realtime import Call, CallState
        from ..rtc.tracks import PcmSource

        call = self._call
        if call is not None and call.state is CallState.LIVE:
            return call
        if call is not None:
            await call.close()
            self._count_spoken(call)
        self._spoken_mark = 0.0
        # Its own silent source: the microphone never goes up in text mode.
        call = Call(self._session(), self._options, http=self._http, source=PcmSource(),
                    sink=self._sink)  # fmt: skip
        self._call = call
        await call.start()
        self._tasks.spawn(self._read(call), "events")
        return call

    async def _read(self, call: Call) -> None:
        from ..realtime import events as ev

        async for event in call.events():
            match event:
                case ev.ResponseCreated(response=response) if self._waiting:
                    self._response = response.id
                case ev.ResponseDone(response=response) if response.id == self._response:
                    self._response = None
                    self._finished.set()
                    if self._on_usage is not None and response.usage:
                        self._on_usage("response", self._model, response.usage)
                case ev.OutputAudioStopped() | ev.OutputAudioCleared() if call is self._call:
                    self._count_spoken(call)  # (an old call's: counted when it was replaced)
                case ev.ErrorEvent(error=error) if self._waiting and self._response is None:
                    self._error = error.message or error.code or "refused"
                    self._finished.set()
                case _:
                    pass

    def _count_spoken(self, call: Call) -> None:
        spoken, self._spoken_mark = call.audio_received - self._spoken_mark, call.audio_received
        if spoken > 0:
            self._on_spoken(spoken)

    async def say(self, sentence: str) -> None:
        from ..realtime import events as ev

        async with self._lock:
            call = await self._live_call()
            self._waiting, self._error = True, None
            self._finished.clear()
            try:
                await call.send(ev.InputClear())  # no silence piles up in the input buffer
                await call.send(ev.ResponseCreate(response=self._response_for(sentence)))
                waiting = asyncio.create_task(self._finished.wait())
                ended = asyncio.create_task(call.wait_closed())
                try:
                    await asyncio.wait((waiting, ended), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waiting.cancel()
                    ended.cancel()
            finally:
                self._waiting = False
            if self._error is not None:
                raise CallError(f"the server did not say the sentence: {self._error}")
            if not self._finished.is_set():
                raise call.error or CallError("the voice's call ended")

    def _response_for(self, sentence: str) -> dict[str, Any]:
        modalities = "output_modalities" if self._options.dialect == "ga" else "modalities"
        return {
            "conversation": "none",
            "instructions": READ_ALOUD,
            modalities: ["audio"],
            "input": [
                {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": sentence}],
                }
            ],
        }

    async def hush(self) -> None:
        from ..realtime import CallState
        from ..realtime import events as ev

        call = self._call
        if call is None or call.state is not CallState.LIVE:
            return
        with contextlib.suppress(VivavoceError):
            if self._response is not None:
                await call.send(ev.ResponseCancel())
            await call.send(ev.OutputAudioClear())

    async def close(self) -> None:
        await self._closing.run(self._close)

    async def _close(self) -> None:
        call, self._call = self._call, None
        if call is not None:
            await call.close()
            self._count_spoken(call)
        await self._tasks.cancel_all()
