"""The conversation: one object that owns mode, voice, turns and the current call.

:class:`Conversation` is what an editor talks to, whatever the editor: the language server maps
its requests onto these methods and its callbacks onto notifications. It owns

* the mode (``realtime``: a :class:`~vivavoce.realtime.Call`; ``text``: chat completions),
* the turns of the conversation so far (carried across calls and modes),
* the status an editor shows (state, mode, voice, model, muted, push-to-talk, call id, error),
* the server it talks to: a real one, or the local peer started in this process on demand,
* one ``httpx.AsyncClient`` for all HTTP.

Callbacks run on the event loop and must not block: ``on_status(Status)``,
``on_transcript(TranscriptUpdate)``, ``on_message(level, text)`` for one-line messages a user
should see (a call that dropped, a setting that was refused).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import httpx
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from .errors import CallError, ConfigError, VivavoceError
from .realtime import Call, CallState, TranscriptUpdate
from .realtime import events as ev
from .rtc import ice
from .rtc.tracks import AudioSink, PcmSource
from .settings import Settings

log = logging.getLogger(__name__)

Mode = Literal["realtime", "text"]
State = Literal["idle", "connecting", "live", "reconnecting", "closing", "error"]
MessageLevel = Literal["error", "warning", "info"]

#: How many earlier turns a new call is given as context.
REPLAY_TURNS = 20


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
    role: Literal["user", "assistant"]
    text: str
    interrupted: bool = False


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
    ) -> None:
        self.settings = settings
        self._audio = audio
        self._io: AudioIO | None = None
        self.turns: list[FinalTurn] = []
        self._on_status = on_status
        self._on_transcript = on_transcript
        self._on_message = on_message
        self._status = Status(voice=settings.voice, model=settings.model)
        self._http: httpx.AsyncClient | None = None
        self._peer: Any = None
        self._peer_lock = asyncio.Lock()
        self._call: Call | None = None
        self._call_tasks: set[asyncio.Task[None]] = set()
        self._busy = asyncio.Lock()
        self._text_task: asyncio.Task[None] | None = None
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

    def apply_settings(self, settings: Settings) -> None:
        """New settings take effect for the next call; the status shows them at once if idle."""
        self.settings = settings
        if self._status.state == "idle":
            self._update(voice=settings.voice, model=settings.model)

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
            changes: dict[str, Any] = {}
            if voice:
                changes["voice"] = voice
            if model:
                changes["model"] = model
            if instructions:
                changes["instructions"] = instructions
            if changes:
                self.settings = self.settings.with_changes(changes)
            target: Mode = mode or self._status.mode
            self._update(voice=self.settings.voice, model=self.settings.model, error=None)
            if target == "text":
                self._update(mode="text", state="live")
            else:
                await self._open_call()
            return self._status

    async def stop(self) -> Status:
        """Stop talking (idempotent); the conversation's turns are kept."""
        async with self._busy:
            await self._close_call()
            self._cancel_text()
            if self._status.state != "idle":
                self._update(state="idle", call_id=None, push_to_talk=False)
            return self._status

    async def toggle_mode(self) -> Status:
        """realtime ↔ text, keeping the conversation. A realtime call that fails rolls back."""
        async with self._busy:
            if self._status.mode == "realtime":
                was_live = self._status.state in ("live", "connecting")
                await self._close_call()
                self._update(mode="text", state="live" if was_live else "idle", call_id=None)
                return self._status
            self._cancel_text()
            self._update(mode="realtime")
            if self._status.state != "live":
                return self._status
            try:
                await self._open_call()
            except VivavoceError as exc:
                self._update(mode="text", state="live", error=str(exc))
                self._on_message("error", f"vivavoce stayed in text mode: {exc}")
            return self._status

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
        """Press: clear the input and listen. Release: commit and ask for a reply."""
        call = self._live_call("push to talk")
        if pressed:
            if call.session.audio.input.turn_detection is not None:
                call.session.audio.input.turn_detection = None
                await call.send(ev.SessionUpdate(session=call.session))
            await call.send(ev.InputClear())
            self._update(push_to_talk=True, muted=False)
        else:
            await call.send(ev.InputCommit())
            await call.send(ev.ResponseCreate())
            self._update(push_to_talk=False)
        return self._status

    async def mute(self, muted: bool) -> Status:
        if self._io is not None:
            self._io.muted = muted
        if self._call is not None and muted:
            self._call.source.clear()
        self._update(muted=muted)
        return self._status

    async def interrupt(self) -> Status:
        """Stop the assistant now: cancel the reply, clear the server's audio and ours."""
        if self._status.mode == "text":
            self._cancel_text()
            return self._status
        call = self._live_call("interrupt")
        await call.send(ev.ResponseCancel())
        await call.send(ev.OutputAudioClear())
        return self._status

    async def close(self) -> None:
        """End everything: the call, text replies, the local peer, the HTTP client."""
        if self._closed:
            return
        self._closed = True
        await self._close_call()
        self._cancel_text()
        if self._peer is not None:
            await self._peer.close()
            self._peer = None
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        if self._status.state != "idle":
            self._update(state="idle", call_id=None)

    # ------------------------------------------------------------------ the server

    def http(self) -> httpx.AsyncClient:
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
            if self._peer is None:
                from .peer import start_peer

                self._peer = await start_peer(host="127.0.0.1", port=0)
            return str(self._peer.base_url)

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
        call = self._call
        if call is None or call.state is not CallState.LIVE:
            raise CallError(f"cannot {what}: no live call (start one first)")
        return call

    async def _open_call(self, on_step: Callable[[str], None] | None = None) -> None:
        self._update(mode="realtime", state="connecting", error=None)
        try:
            base_url = await self.base_url()
            io = await self._open_audio()
            call = Call(
                self.settings,
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
            await self._close_audio()
            self._update(state="error", error=str(exc), call_id=None)
            raise
        self._watch(call)
        await self._replay(call)
        self._update(state="live", call_id=call.call_id)

    async def _open_audio(self) -> AudioIO | None:
        """The microphone and speaker, or None (silence in, nothing out) when unavailable."""
        if self._audio is None:
            return None
        if self._io is None:
            try:
                self._io = await self._audio(self.settings, self._on_level)
            except VivavoceError as exc:
                self._on_message("warning", f"vivavoce: no audio devices ({exc}); text still works")
                return None
            self._io.muted = self._status.muted
        return self._io

    async def _close_audio(self) -> None:
        io, self._io = self._io, None
        if io is not None:
            await io.close()
        self._update(input_level=0.0)

    def _on_level(self, dbfs: float) -> None:
        self._update(input_level=round(dbfs, 1))

    #: Replaced by the language server to report connect steps as progress.
    on_step: Callable[[str], None] | None = None

    async def _replay(self, call: Call) -> None:
        """Give a new call the recent turns, so the assistant remembers them."""
        for turn in self.turns[-REPLAY_TURNS:]:
            kind: Literal["input_text", "output_text"] = (
                "input_text" if turn.role == "user" else "output_text"
            )
            item = ev.Item(role=turn.role, content=[ev.ContentPart(type=kind, text=turn.text)])
            await call.send(ev.ItemCreate(item=item))

    def _watch(self, call: Call) -> None:
        async def forward() -> None:
            with contextlib.suppress(VivavoceError):
                async for update in call.transcripts():
                    self._transcript(update)

        task = asyncio.get_running_loop().create_task(forward(), name="vivavoce transcripts")
        self._call_tasks.add(task)
        task.add_done_callback(self._call_tasks.discard)

    def _on_call_state(self, state: CallState, error: VivavoceError | None) -> None:
        if state is CallState.ERROR and self._status.state == "live" and error is not None:
            # The call ended on its own (server gone, channel closed): tell the user once.
            self._call = None
            self._update(state="error", error=str(error), call_id=None, push_to_talk=False)
            self._on_message("error", f"vivavoce: the call ended: {error}")

    async def _close_call(self) -> None:
        call, self._call = self._call, None
        if call is not None:
            self._update(state="closing")
            await call.close()
        await self._close_audio()
        for task in list(self._call_tasks):
            task.cancel()
        if self._call_tasks:
            await asyncio.wait(self._call_tasks, timeout=2)

    # ------------------------------------------------------------------ text mode

    def _cancel_text(self) -> None:
        if self._text_task is not None and not self._text_task.done():
            self._text_task.cancel()
        self._text_task = None

    async def _text_turn(self, text: str) -> None:
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
        messages = [Message(role="system", content=self.settings.instructions)] + [
            Message(role=t.role, content=t.text) for t in self.turns[-REPLAY_TURNS * 2 :]
        ]
        item_id, reply = ev.new_id("item"), ""

        async def stream() -> None:
            nonlocal reply
            async for chunk in chat.stream(self.settings.text_model, messages):
                reply += chunk
                self._transcript(
                    TranscriptUpdate(
                        item_id=item_id,
                        previous_item_id=user.item_id,
                        role="assistant",
                        text=reply,
                        delta=chunk,
                    )
                )

        self._text_task = asyncio.get_running_loop().create_task(stream(), name="vivavoce text")
        interrupted = False
        try:
            await self._text_task
        except asyncio.CancelledError:
            interrupted = True
        finally:
            self._text_task = None
        self._transcript(
            TranscriptUpdate(
                item_id=item_id,
                previous_item_id=user.item_id,
                role="assistant",
                text=reply,
                final=True,
                interrupted=interrupted,
            )
        )

    # ------------------------------------------------------------------ transcript

    def _last_item(self) -> str | None:
        return self.turns[-1].item_id if self.turns else None

    def _transcript(self, update: TranscriptUpdate) -> None:
        if update.final and update.text:
            self.turns.append(
                FinalTurn(update.item_id, update.role, update.text, update.interrupted)
            )
        self._on_transcript(update)
