"""The conversation: one object that owns mode, voice, turns and the current call.

:class:`Conversation` is what an editor talks to, whatever the editor: the language server maps
its requests onto these methods and its callbacks onto notifications. It owns

* the mode (``realtime``: a :class:`~vivavoce.realtime.Call`; ``text``: chat completions),
* the turns of the conversation so far (carried across calls and modes),
* the status an editor shows (state, mode, voice, model, muted, push-to-talk, call id, error),
* the server it talks to: a real one, or the local peer started in this process on demand,
* one ``httpx.AsyncClient`` for all HTTP,
* the voice tools' runs (:mod:`.tools`): declared to the model in both modes, run when it calls
  them, their outputs sent back and a ``tool`` line added to the transcript.

Callbacks run on the event loop and must not block: ``on_status(Status)``,
``on_transcript(TranscriptUpdate)``, ``on_message(level, text)`` for one-line messages a user
should see (a call that dropped, a setting that was refused).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from .errors import CallError, ConfigError, VivavoceError
from .realtime.voices import VoiceCatalog, VoicePreference
from .rtc import ice
from .settings import Settings

if TYPE_CHECKING:  # the call, its events and audio load when a call starts
    import httpx

    from .realtime import Call, CallState, TranscriptUpdate
    from .realtime import events as ev
    from .rtc.tracks import AudioSink, PcmSource
    from .store import ConversationLog
    from .text.chat import Message, ToolCallRequest
    from .text.speech import Speech
    from .tools import Toolbox

log = logging.getLogger(__name__)

Mode = Literal["realtime", "text"]
State = Literal["idle", "connecting", "live", "reconnecting", "closing", "error"]
MessageLevel = Literal["error", "warning", "info"]

#: More calls than this dropping within a minute: the server is broken; stop reconnecting.
MAX_DROPS_PER_MINUTE = 5
#: Text mode: at most this many rounds of tool calls before the reply must be text.
MAX_TOOL_ROUNDS = 4

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


class Status(BaseModel):
    """What an editor shows: sent as ``realtime/status`` on every change."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    state: State = "idle"
    mode: Mode = "realtime"
    voice: str = "alloy"
    model: str = ""
    muted: bool = False
    push_to_talk: bool = False
    input_level: float = 0.0
    #: Microphone blocks (20 ms) lost since the devices opened because the loop fell behind.
    input_dropped: int = 0
    #: Why the microphone/speaker are not in use (failed to open, or lost mid-call); the
    #: conversation goes on without them (text still works). None when they work or are off.
    audio_error: str | None = None
    call_id: str | None = None
    error: str | None = None

    def wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True)


class AudioIO(Protocol):
    """The user's microphone and speaker for one call (see :mod:`vivavoce.audio`)."""

    #: What the microphone captured, 48 kHz mono, ready for the outgoing track.
    source: PcmSource
    #: Receives the assistant's voice and plays it.
    sink: AudioSink
    #: When true, the microphone sends silence.
    muted: bool

    def play(self, samples: Any, rate: int) -> None:
        """Queue speech (text mode's spoken replies) on the speaker."""

    def flush(self) -> float:
        """Drop queued playback at once (interruption); returns the seconds dropped."""

    async def close(self) -> None: ...


#: Opens the devices for a call; ``on_level`` receives the input level (dBFS, ≤ 10/s).
AudioFactory = Callable[[Settings, Callable[[float], None]], Awaitable[AudioIO]]


@dataclass(frozen=True)
class FinalTurn:
    item_id: str
    role: Literal["user", "assistant", "tool"]
    text: str
    interrupted: bool = False


class PeerProcess:
    """The local peer in a process of its own (``vivavoce peer`` on a free loopback port).

    ``on_exit(returncode)`` is called if it ends without :meth:`close` (it crashed or was
    killed): the call to it is over at once, with no need to wait for ICE consent to expire.
    """

    def __init__(
        self,
        proc: asyncio.subprocess.Process,
        base_url: str,
        on_exit: Callable[[int], None] = lambda _: None,
    ) -> None:
        self._proc = proc
        self.base_url = base_url
        self._closing = False
        self._on_exit = on_exit
        self._watch = asyncio.get_running_loop().create_task(
            self._watch_exit(), name="vivavoce peer process"
        )

    async def _watch_exit(self) -> None:
        code = await self._proc.wait()
        if not self._closing:
            log.warning("the local peer process ended (exit code %s)", code)
            self._on_exit(code)

    @property
    def running(self) -> bool:
        return self._proc.returncode is None

    @classmethod
    async def start(cls, on_exit: Callable[[int], None] = lambda _: None) -> PeerProcess:
        import sys

        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "vivavoce", "peer", "--host", "127.0.0.1", "--port", "0",
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert proc.stdout is not None
        try:
            line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        except TimeoutError:
            line = ""
        if not line.startswith("listening on "):
            proc.kill()
            await proc.wait()
            raise CallError("the local peer did not start (run `vivavoce peer` to see why)")
        return cls(proc, line.split()[-1], on_exit)

    async def close(self) -> None:
        self._closing = True
        if self._proc.returncode is None:
            self._proc.terminate()
            try:
                await asyncio.wait_for(self._proc.wait(), 5)
            except TimeoutError:
                self._proc.kill()
                await self._proc.wait()
        await self._watch


class Conversation:
    """A spoken (or typed) conversation with one assistant, across calls and modes."""

    def __init__(
        self,
        settings: Settings,
        *,
        on_status: Callable[[Status], None] = lambda _: None,
        on_transcript: Callable[[TranscriptUpdate], None] = lambda _: None,
        on_message: Callable[[MessageLevel, str], None] = lambda *_: None,
        audio: AudioFactory | None = None,
        history: ConversationLog | None = None,
        tools: Toolbox | None = None,
    ) -> None:
        self.settings = settings
        #: Where final turns are kept on disk (None: memory only).
        self.history = history
        #: The voice tools the assistant may use (None: no editor, no tools).
        self.tools = tools
        self.turns: list[FinalTurn] = []
        self.voices = VoicePreference(self._catalog(settings))
        self._remember_voices(settings)
        self._on_status = on_status
        self._on_transcript = on_transcript
        self._on_message = on_message
        self._audio = audio
        self._io: AudioIO | None = None
        self._status = Status(
            voice=self.voices.voice_for("realtime", settings.voice), model=settings.model
        )
        self._http: httpx.AsyncClient | None = None
        self._peer: Any = None
        self._peer_lock = asyncio.Lock()
        self._call: Call | None = None
        self._call_tasks: set[asyncio.Task[None]] = set()
        self._replayed: set[str] = set()
        self._busy = asyncio.Lock()
        self._text_task: asyncio.Task[None] | None = None
        self._speaker_task: asyncio.Task[None] | None = None
        self._ptt = False
        self._said_errors: set[str] = set()
        self._recordings = 0
        self._drops: list[float] = []  # when calls dropped (to stop a reconnect loop)
        # What the assistant is saying now (for interruption): response, item, audio start.
        self._response_id: str | None = None
        self._assistant_item: str | None = None
        self._audio_started: float | None = None
        self._closed = False

    # ------------------------------------------------------------------ status

    @property
    def status(self) -> Status:
        return self._status

    def _update(self, **changes: Any) -> None:
        new = self._status.model_copy(update=changes)
        if new != self._status:
            self._status = new
            self._on_status(new)

    @staticmethod
    def _catalog(settings: Settings) -> VoiceCatalog:
        return VoiceCatalog.with_extra(settings.extra_realtime_voices, settings.extra_tts_voices)

    def _remember_voices(self, settings: Settings) -> None:
        choices: tuple[tuple[Mode, str | None], ...] = (
            ("realtime", settings.voice),
            ("text", settings.text_voice),
        )
        for mode, voice in choices:
            if voice and self.voices.catalog.supports(mode, voice):
                self.voices.chosen[mode] = voice

    def _voice(self, mode: Mode) -> str:
        return self.voices.voice_for(mode, self._status.voice)

    def _model(self, mode: Mode) -> str:
        return self.settings.model if mode == "realtime" else self.settings.text_model

    def apply_settings(self, settings: Settings) -> None:
        """New settings; a live call whose voice, model or instructions changed reconnects."""
        old, self.settings = self.settings, settings
        self.voices.catalog = self._catalog(settings)
        if settings.voice != old.voice:
            self.voices.chosen.pop("realtime", None)
        if settings.text_voice != old.text_voice:
            self.voices.chosen.pop("text", None)
        self._remember_voices(settings)
        mode = self._status.mode
        self._update(voice=self._voice(mode), model=self._model(mode))
        changed = (settings.voice, settings.model, settings.instructions) != (
            old.voice,
            old.model,
            old.instructions,
        )
        if changed and mode == "realtime" and self._status.state == "live":
            self._spawn(self._reconnect("the voice or model changed"), "vivavoce reconnect")

    # ------------------------------------------------------------------ requests

    async def start(
        self,
        *,
        mode: Mode | None = None,
        voice: str | None = None,
        model: str | None = None,
        instructions: str | None = None,
    ) -> Status:
        """Start talking. While live, a second start changes nothing and returns the status."""
        async with self._busy:
            if self._status.state in ("live", "connecting"):
                return self._status
            target: Mode = mode or self._status.mode
            changes: dict[str, Any] = {}
            if instructions:
                changes["instructions"] = instructions
            if model:
                changes["model" if target == "realtime" else "textModel"] = model
            if changes:
                self.settings = self.settings.with_changes(changes)
            if voice:
                _, note = self.voices.choose(target, voice)
                if note:
                    self._on_message("warning", f"vivavoce: {note}")
            self._update(
                mode=target, voice=self._voice(target), model=self._model(target), error=None
            )
            if target == "text":
                await self._open_audio()
                self._update(state="live")
            else:
                await self._open_call()
            return self._status

    async def stop(self) -> Status:
        """Stop talking (idempotent); the conversation's turns are kept."""
        async with self._busy:
            await self._close_call()
            await self._stop_text()
            await self._close_audio()
            self._ptt = False
            if self._status.state != "idle":
                self._update(state="idle", call_id=None, push_to_talk=False)
            return self._status

    async def toggle_mode(self) -> Status:
        """realtime ↔ text, keeping the conversation. A realtime call that fails rolls back."""
        async with self._busy:
            was_live = self._status.state in ("live", "connecting")
            if self._status.mode == "realtime":
                await self._close_call()
                self._update(
                    mode="text",
                    voice=self._voice("text"),
                    model=self._model("text"),
                    state="live" if was_live else "idle",
                    call_id=None,
                    push_to_talk=False,
                )
                return self._status
            await self._stop_text()
            # A live text conversation becomes a call being opened: never "realtime, live"
            # before the call is (an editor would show LIVE while it still connects).
            self._update(
                mode="realtime",
                voice=self._voice("realtime"),
                model=self._model("realtime"),
                state="connecting" if was_live else self._status.state,
            )
            if not was_live:
                return self._status
            try:
                await self._open_call()
            except VivavoceError as exc:
                self._roll_back_to_text(exc)
            return self._status

    def _roll_back_to_text(self, exc: VivavoceError, message: str | None = None) -> None:
        self._update(
            mode="text",
            voice=self._voice("text"),
            model=self._model("text"),
            state="live",
            error=str(exc),
            call_id=None,
        )
        self._on_message("error", message or f"vivavoce stayed in text mode: {exc}")

    async def send_text(self, text: str) -> None:
        """A typed user turn; the reply streams back as transcript updates."""
        text = text.strip()
        if not text:
            raise ConfigError("nothing to send: the text is empty", key="text")
        if self._status.mode == "realtime":
            call = self._live_call("send text")
            await call.send_text(text)
            return
        if self._status.state != "live":
            self._update(state="live", error=None)
        await self._text_turn(text)

    async def push_to_talk(self, pressed: bool) -> Status:
        """Press: clear the input and listen. Release: commit and ask for a reply.

        With the setting ``pushToTalk: toggle`` (editors with no key-up), each press flips.
        """
        if self.settings.push_to_talk == "toggle":
            if not pressed:
                return self._status
            pressed = not self._ptt
        if pressed == self._ptt:
            return self._status
        if self._status.mode == "text":
            await self._push_to_talk_text(pressed)
        else:
            await self._push_to_talk_realtime(self._live_call("push to talk"), pressed)
        return self._status

    async def _push_to_talk_realtime(self, call: Call, pressed: bool) -> None:
        from .realtime import events as ev

        if pressed:
            if call.session.audio.input.turn_detection is not None:
                call.session.audio.input.turn_detection = None  # the user decides the turns
                await call.send(ev.SessionUpdate(session=call.session))
            if self._audio_started is not None:
                await self._interrupt_realtime(call)
            await call.send(ev.InputClear())
            call.source.clear()
        elif self._io is not None:
            await call.send(ev.InputCommit())
            await call.send(ev.ResponseCreate())
        else:  # no microphone: nothing can have been said, so there is no turn to commit
            await call.send(ev.InputClear())
        self._ptt = pressed
        self._gate_microphone()
        self._update(push_to_talk=pressed)

    async def _push_to_talk_text(self, pressed: bool) -> None:
        io = self._io or await self._open_audio()
        if io is None:
            raise ConfigError("push to talk needs a microphone, and none is available")
        self._ptt = pressed
        self._gate_microphone()
        self._update(push_to_talk=pressed)
        if pressed:
            await self._stop_text()
            io.source.clear()
            return
        samples = io.source.take_all()
        io.source.clear()
        if samples is None or samples.size < 4800:  # under 0.1 s: nothing was said
            return

        base_url = await self.base_url()
        speech = self._speech(base_url)
        tr = self.settings.transcription
        text = await speech.transcribe(samples, 48000, tr.model, tr.language)
        if text:
            await self._text_turn(text)

    def _gate_microphone(self) -> None:
        """With push-to-talk, the microphone is open only while the key is down."""
        if self._io is not None:
            ptt_closed = self.settings.push_to_talk != "off" and not self._ptt
            self._io.muted = self._status.muted or ptt_closed

    async def mute(self, muted: bool) -> Status:
        self._update(muted=muted)
        self._gate_microphone()
        if self._call is not None and muted:
            self._call.source.clear()
        return self._status

    async def interrupt(self) -> Status:
        """Stop the assistant now: cancel the reply, clear the server's audio and ours."""
        if self._status.mode == "text":
            await self._stop_text()
            return self._status
        await self._interrupt_realtime(self._live_call("interrupt"))
        return self._status

    async def close(self) -> None:
        """End everything: the call, text replies, devices, the local peer, the HTTP client."""
        if self._closed:
            return
        self._closed = True
        await self._close_call()
        await self._stop_text()
        await self._close_audio()
        for task in list(self._call_tasks):
            task.cancel()
        if self._peer is not None:
            await self._peer.close()
            self._peer = None
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        if self.history is not None:
            await self.history.close()
        if self._status.state != "idle":
            self._update(state="idle", call_id=None)

    # ------------------------------------------------------------------ the server

    def http(self) -> httpx.AsyncClient:
        import httpx

        if self._http is None:
            self._http = httpx.AsyncClient()
        return self._http

    async def base_url(self) -> str:
        """Where to talk: the configured server, or the local peer (started on first use)."""
        peer = self.settings.peer
        if peer == "auto":
            peer = "openai" if self.settings.api_key else "embedded"
        if peer == "openai":
            return self.settings.base_url
        if peer != "embedded":
            return peer
        async with self._peer_lock:
            if isinstance(self._peer, PeerProcess) and not self._peer.running:
                await self._peer.close()  # it ended (said already): a fresh one below
                self._peer = None
            if self._peer is None:
                if self._audio is not None:
                    # With real devices, recognition and synthesis in this process would hold
                    # the GIL long enough to starve the sound callbacks: run the peer apart.
                    self._peer = await PeerProcess.start(on_exit=self._peer_exited)
                else:
                    from .peer import start_peer

                    self._peer = await start_peer(host="127.0.0.1", port=0)
            return str(self._peer.base_url)

    def _peer_exited(self, code: int) -> None:
        """The local peer process died: its call is over now (then reconnection starts anew)."""
        if self._call is not None:
            self._call.fail(CallError(f"the local peer stopped (exit code {code})"))

    def _speech(self, base_url: str) -> Speech:
        from .text.speech import Speech

        return Speech(self.http(), base_url=base_url, api_key=self._api_key(base_url))

    def _api_key(self, base_url: str) -> str:
        key = self.settings.resolved_api_key()
        if key:
            return key
        if ice.is_loopback(base_url):
            return "local"
        raise ConfigError(
            "no API key: set OPENAI_API_KEY or the vivavoce apiKey setting", key="apiKey"
        )

    # ------------------------------------------------------------------ realtime

    def _live_call(self, what: str) -> Call:
        from .realtime import CallState

        call = self._call
        if call is None or call.state is not CallState.LIVE:
            raise CallError(f"cannot {what}: no live call (start one first)")
        return call

    def _call_settings(self) -> Settings:
        """Settings for the next call: this mode's voice; no VAD while push-to-talk is on."""
        changes: dict[str, Any] = {"voice": self._voice("realtime")}
        settings = self.settings.model_copy(update=changes)
        if self.settings.push_to_talk != "off":
            td = self.settings.turn_detection.model_copy(update={"type": "none"})
            settings = settings.model_copy(update={"turn_detection": td})
        return settings

    def _session(self, settings: Settings) -> ev.Session:
        """The session a call asks for: the settings, and the voice tools it may call."""
        from .realtime import events as ev
        from .realtime.call import build_session

        session = build_session(settings)
        if self.tools is not None:
            session.tools = [
                ev.Tool(name=name, description=description, parameters=parameters)
                for name, description, parameters in self.tools.specs()
            ]
            session.tool_choice = "auto"
        return session

    async def _open_call(self, on_step: Callable[[str], None] | None = None) -> None:
        from .realtime import Call

        if self._status.state != "reconnecting":
            self._update(mode="realtime", state="connecting", error=None)
        try:
            base_url = await self.base_url()
            io = await self._open_audio()
            settings = self._call_settings()
            call = Call(
                settings,
                session=self._session(settings),
                base_url=base_url,
                http=self.http(),
                source=io.source if io else None,
                sink=io.sink if io else None,
                on_state=self._on_call_state,
                on_step=on_step or self.on_step,
            )
            self._call = call
            await call.start()
        except VivavoceError as exc:
            self._call = None
            if self._status.state != "reconnecting":
                self._update(state="error", error=str(exc), call_id=None)
            raise
        self._follow(call)
        await self._replay(call)
        self._gate_microphone()
        self._update(state="live", call_id=call.call_id, error=None)

    async def _reconnect(self, why: str) -> None:
        """A new call with the same conversation (voice or model changed, call dropped)."""
        async with self._busy:
            if self._status.state != "live" or self._status.mode != "realtime":
                return
            log.info("reconnecting: %s", why)
            self._update(state="reconnecting")
            await self._close_call(keep_state=True)
            try:
                await self._open_call()
            except VivavoceError as exc:
                self._roll_back_to_text(exc)

    async def _open_audio(self) -> AudioIO | None:
        """The microphone and speaker, or None (silence in, nothing out) when unavailable."""
        if self._audio is None:
            return None
        if self._io is None:
            try:
                # Recording is started here, named after this conversation (below).
                settings = self.settings.model_copy(update={"record": False})
                self._io = await self._audio(settings, self._on_level)
            except VivavoceError as exc:
                self._update(audio_error=str(exc))
                self._on_message("warning", f"vivavoce: no audio devices ({exc}); text still works")
                return None
            self._update(audio_error=None)
            problems = getattr(self._io, "on_problem", None)
            if isinstance(problems, list):  # a device lost mid-call: the call goes on without it
                problems.append(self._on_audio_problem)
            dropped = getattr(self._io, "on_dropped", None)
            if isinstance(dropped, list):
                dropped.append(lambda total: self._update(input_dropped=total))
            self._record(self._io)
            self._gate_microphone()
        return self._io

    def _record(self, io: AudioIO) -> None:
        """With ``record`` on, both sides go to ``<history>/<conversation id>-<n>.wav``."""
        start = getattr(io, "start_recording", None)
        if not (self.settings.record and self.history is not None and callable(start)):
            return
        self._recordings += 1
        start(self.history.folder / f"{self.history.id}-{self._recordings}.wav")

    async def _close_audio(self) -> None:
        io, self._io = self._io, None
        if io is not None:
            await io.close()
        self._update(input_level=0.0, input_dropped=0, audio_error=None)

    def _on_audio_problem(self, exc: Exception) -> None:
        self._update(audio_error=str(exc), input_level=0.0)
        self._on_message("warning", f"vivavoce: {exc}")

    def _on_level(self, dbfs: float) -> None:
        self._update(input_level=round(dbfs, 1))

    #: Replaced by the language server to report connect steps as progress.
    on_step: Callable[[str], None] | None = None

    async def _replay(self, call: Call) -> None:
        """Give a new call the recent turns, so the assistant remembers them."""
        from .realtime import events as ev

        count = self.settings.replay_turns
        for turn in self._spoken_turns()[-count:] if count else []:
            kind: Literal["input_text", "output_text"] = (
                "input_text" if turn.role == "user" else "output_text"
            )
            item_id = ev.new_id("item")
            self._replayed.add(item_id)  # already in the transcript: not shown again
            item = ev.Item(
                id=item_id, role=turn.role, content=[ev.ContentPart(type=kind, text=turn.text)]
            )
            await call.send(ev.ItemCreate(item=item))

    def _follow(self, call: Call) -> None:
        """Forward the call's transcript, and follow what the assistant is saying."""

        async def transcripts() -> None:
            with contextlib.suppress(VivavoceError):
                async for update in call.transcripts():
                    if update.item_id not in self._replayed:
                        self._transcript(update)

        async def events() -> None:
            with contextlib.suppress(VivavoceError):
                async for event in call.events():
                    await self._on_event(call, event)

        self._spawn(transcripts(), "vivavoce transcripts")
        self._spawn(events(), "vivavoce events")

    async def _on_event(self, call: Call, event: ev.ServerEvent) -> None:
        from .realtime import events as ev

        match event:
            case ev.ResponseCreated(response=response):
                self._response_id = response.id
            case ev.OutputItemAdded(item=item) if item.role == "assistant":
                self._assistant_item = item.id
            case ev.OutputAudioStarted():
                self._audio_started = time.monotonic()
            case ev.OutputAudioStopped() | ev.OutputAudioCleared():
                self._audio_started = None
            case ev.ResponseDone(response=response):
                self._response_id = None
                calls = [item for item in response.output if item.type == "function_call"]
                if calls:
                    self._spawn(self._run_tools(call, calls, response.status == "completed"))
            case ev.SpeechStarted() if self._audio_started is not None:
                # The user talks over the assistant: the server cancels its reply; we stop
                # playing at once and tell it how much was heard.
                await self._stop_playback(call, cancel=False)
            case ev.ServerError(error=error):
                log.info("server error event (%s): %s", error.code, error.message)
                ends_call = error.code == "session_expired"  # handled as a dropped call
                if error.message and not ends_call and error.message not in self._said_errors:
                    # A request the server refused (a reply that will not come): say why, once.
                    self._said_errors.add(error.message)
                    self._on_message("warning", f"vivavoce: the server said: {error.message}")
            case _:
                pass

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str = "vivavoce tools") -> None:
        """A task that belongs to the current call (cancelled when it closes)."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._call_tasks.add(task)
        task.add_done_callback(self._call_tasks.discard)

    async def _run_tools(self, call: Call, items: list[ev.Item], respond: bool) -> None:
        """Run the functions a response called, send their outputs, and ask for the reply."""
        from .realtime import events as ev

        for item in items:
            output = await self._run_tool(item.name or "", item.arguments, item.id)
            result = ev.Item(type="function_call_output", call_id=item.call_id, output=output)
            try:
                await call.send(ev.ItemCreate(item=result))
            except VivavoceError as exc:
                log.info("tool output not sent: %s", exc)
                return
        if respond:  # a cancelled response (the user interrupted) wants no follow-up
            with contextlib.suppress(VivavoceError):
                await call.send(ev.ResponseCreate())

    async def _run_tool(self, name: str, arguments: str | None, item_id: str | None) -> str:
        """One tool call: run it (or refuse: no editor), add its line to the transcript."""
        from .realtime import TranscriptUpdate
        from .realtime import events as ev

        if self.tools is None:
            output, summary = '{"error": "no editor is connected"}', f"{name}: no editor"
        else:
            result = await self.tools.run(name, arguments)
            output, summary = result.output_json, result.summary
        self._transcript(
            TranscriptUpdate(
                item_id=item_id or ev.new_id("item"),
                previous_item_id=self._last_item(),
                role="tool",
                text=summary,
                final=True,
            )
        )
        return output

    async def _interrupt_realtime(self, call: Call) -> None:
        await self._stop_playback(call, cancel=self._response_id is not None)

    async def _stop_playback(self, call: Call, *, cancel: bool) -> None:
        from .realtime import events as ev

        dropped = self._io.flush() if self._io is not None else 0.0
        started, self._audio_started = self._audio_started, None
        if cancel:
            await call.send(ev.ResponseCancel())
        if started is not None:
            await call.send(ev.OutputAudioClear())
            if self._assistant_item is not None:
                heard_ms = max(0, int((time.monotonic() - started - dropped) * 1000))
                await call.send(
                    ev.ItemTruncate(item_id=self._assistant_item, audio_end_ms=heard_ms)
                )

    def _on_call_state(self, state: CallState, error: VivavoceError | None) -> None:
        from .realtime import CallState

        if state is CallState.ERROR and self._status.state == "live" and error is not None:
            # The call ended on its own (server gone, channel closed, session expired).
            self._call = None
            now = time.monotonic()
            self._drops = [t for t in self._drops if now - t < 60] + [now]
            # A server that drops every new call must not keep us reconnecting forever.
            if self.settings.reconnect_attempts > 0 and len(self._drops) <= MAX_DROPS_PER_MINUTE:
                self._spawn(self._recover(error), "vivavoce recover call")
                return
            if self.settings.reconnect_attempts > 0:
                self._roll_back_to_text(
                    error, f"vivavoce: calls keep ending ({error}); continuing in text mode"
                )
                return
            self._update(state="error", error=str(error), call_id=None, push_to_talk=False)
            self._on_message("error", f"vivavoce: the call ended: {error}")

    async def _recover(self, error: VivavoceError) -> None:
        """New calls with the same conversation, backing off; then text mode, nothing lost."""
        async with self._busy:
            if self._call is not None or self._closed:
                return
            self._update(state="reconnecting", error=str(error), call_id=None, push_to_talk=False)
            self._ptt = False
            await self._close_call(keep_state=True)
            delay, last = 0.5, error
            for attempt in range(1, self.settings.reconnect_attempts + 1):
                await asyncio.sleep(delay)
                delay = min(delay * 2, 8.0)
                log.info("reconnecting (attempt %d): %s", attempt, last)
                try:
                    await self._open_call()
                except VivavoceError as exc:
                    last = exc
                    self._update(state="reconnecting", error=str(exc))
                    continue
                return
            self._roll_back_to_text(
                last,
                f"vivavoce: the call ended ({error}) and could not be reopened ({last}); "
                "continuing in text mode",
            )

    async def _close_call(self, *, keep_state: bool = False) -> None:
        call, self._call = self._call, None
        if call is not None:
            if not keep_state:
                self._update(state="closing")
            await call.close()
        current = asyncio.current_task()
        tasks = [t for t in self._call_tasks if t is not current]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2)
        self._response_id = self._assistant_item = self._audio_started = None

    # ------------------------------------------------------------------ text mode

    async def _stop_text(self) -> None:
        """Cancel a text reply being written or spoken, and silence the speaker."""
        tasks = [t for t in (self._text_task, self._speaker_task) if t is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2)
        self._text_task = self._speaker_task = None
        if self._io is not None:
            self._io.flush()

    async def _text_turn(self, text: str) -> None:
        from .realtime import TranscriptUpdate
        from .realtime import events as ev
        from .text.chat import Chat, Message

        user = TranscriptUpdate(
            item_id=ev.new_id("item"),
            previous_item_id=self._last_item(),
            role="user",
            text=text,
            final=True,
        )
        self._transcript(user)
        base_url = await self.base_url()
        chat = Chat(self.http(), base_url=base_url, api_key=self._api_key(base_url))
        count = self.settings.replay_turns * 2
        turns = self._spoken_turns()
        messages = [Message(role="system", content=self.settings.instructions)] + [
            Message(role=t.role, content=t.text) for t in (turns[-count:] if count else [])
        ]
        item_id, reply, after = ev.new_id("item"), "", user.item_id
        sentences: asyncio.Queue[str | None] = asyncio.Queue()
        if self._io is not None:
            self._speaker_task = asyncio.get_running_loop().create_task(
                self._speak(sentences, base_url), name="vivavoce speak reply"
            )

        def assistant(**fields: Any) -> TranscriptUpdate:
            return TranscriptUpdate(
                item_id=item_id, previous_item_id=after, role="assistant", **fields
            )

        async def stream() -> None:
            nonlocal reply, after
            pending = ""
            tools = self.tools.specs() if self.tools is not None else []
            for round_ in range(MAX_TOOL_ROUNDS + 1):
                calls: list[ToolCallRequest] = []
                offered = tools if round_ < MAX_TOOL_ROUNDS else []  # then it must answer
                async for piece in chat.stream(self.settings.text_model, messages, offered):
                    if not isinstance(piece, str):
                        calls.append(piece)
                        continue
                    reply += piece
                    pending += piece
                    *done, pending = _SENTENCE_END.split(pending)
                    for sentence in done:
                        sentences.put_nowait(sentence)
                    self._transcript(assistant(text=reply, delta=piece))
                if not calls:
                    break
                after = await self._text_tools(calls, messages)
            sentences.put_nowait(pending)
            sentences.put_nowait(None)

        self._text_task = asyncio.get_running_loop().create_task(stream(), name="vivavoce text")
        interrupted = False
        try:
            await self._text_task
        except asyncio.CancelledError:
            interrupted = True
        except VivavoceError as exc:
            if not reply:
                raise  # nothing was said: the error is the answer
            interrupted = True
            self._on_message("warning", f"vivavoce: the reply broke off: {exc}")
        finally:
            self._text_task = None
        if reply or interrupted:
            self._transcript(assistant(text=reply, final=True, interrupted=interrupted))

    async def _text_tools(self, calls: list[ToolCallRequest], messages: list[Message]) -> str:
        """Run text mode's tool calls; their outputs join ``messages``. The last line's id."""
        from .realtime import events as ev
        from .text.chat import Message

        messages.append(
            Message(role="assistant", content=None, tool_calls=[c.message_part() for c in calls])
        )
        item_id = ""
        for call in calls:
            item_id = ev.new_id("item")
            output = await self._run_tool(call.name, call.arguments, item_id)
            messages.append(Message(role="tool", content=output, tool_call_id=call.id))
        return item_id

    async def _speak(self, sentences: asyncio.Queue[str | None], base_url: str) -> None:
        """Speak the reply sentence by sentence, as it is written."""
        from .text.speech import SPEECH_RATE

        speech = self._speech(base_url)
        voice = self._voice("text")
        while (sentence := await sentences.get()) is not None:
            if not sentence.strip():
                continue
            try:
                samples = await speech.synthesize(sentence, voice)
            except VivavoceError as exc:
                self._on_message("warning", f"vivavoce: the reply cannot be spoken: {exc}")
                return
            if self._io is not None:
                self._io.play(samples, SPEECH_RATE)

    # ------------------------------------------------------------------ transcript

    def _spoken_turns(self) -> list[FinalTurn]:
        """The turns a model is given again (tool lines are notes for the user)."""
        return [t for t in self.turns if t.role != "tool"]

    def _last_item(self) -> str | None:
        return self.turns[-1].item_id if self.turns else None

    def _transcript(self, update: TranscriptUpdate) -> None:
        if update.final and update.text:
            turn = FinalTurn(update.item_id, update.role, update.text, update.interrupted)
            # A turn can be finalized again (marked interrupted when truncated): one entry each.
            for i in range(len(self.turns) - 1, max(-1, len(self.turns) - 8), -1):
                if self.turns[i].item_id == update.item_id:
                    self.turns[i] = turn
                    break
            else:
                self.turns.append(turn)
            if self.history is not None:  # a write error is reported by the log itself
                status = self._status
                self.history.turn(update, mode=status.mode, voice=status.voice, model=status.model)
        self._on_transcript(update)
