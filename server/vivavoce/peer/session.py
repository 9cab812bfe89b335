"""One realtime session of the local peer: client events in, server events out.

:class:`RealtimeSession` owns the protocol logic of a call and nothing of WebRTC: it reads
client events, keeps the session settings and the conversation, turns incoming 16 kHz audio
into speech turns (:mod:`.vad`), transcripts (:mod:`.stt`) and responses (:mod:`.responders`
→ :mod:`.tts`), and talks to the call through a small :class:`Transport`.

Behaviour worth knowing (see also the module docs of vad/stt/tts/responders):

* Input transcription events are sent for every committed audio turn, whether or not the
  session configured ``audio.input.transcription`` (the transcript is all the peer understands).
* A response starts after the turn's transcription finished (the responder needs the words);
  ``response.create`` waits for pending transcriptions the same way.
* Cancelling (``response.cancel``, ``output_audio_buffer.clear``, or the user speaking when
  ``interrupt_response`` is on) is synchronous: audio is dropped, ``output_audio_buffer.cleared``
  and ``response.done`` (status ``cancelled``) are sent before the next client event is read.
* Client mistakes produce an ``error`` event carrying the client's ``event_id``; nothing a
  client sends ends the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel

from ..errors import ProtocolError
from ..realtime import events as ev
from .items import Conversation, ToolCall, UnknownItem
from .responders import Responder
from .stt import RATE as STT_RATE
from .stt import Recognizer
from .tts import RATE as TTS_RATE
from .tts import Synthesizer
from .vad import SpeechStarted, SpeechStopped, TurnDetector

log = logging.getLogger(__name__)

Pcm = npt.NDArray[np.int16]
Dialect = Literal["ga", "beta"]

#: Push-to-talk buffer limit (older audio is dropped): 5 minutes at 16 kHz.
MAX_COMMIT_SAMPLES = 5 * 60 * STT_RATE
#: A commit needs at least this much audio (the API's own minimum is 100 ms).
MIN_COMMIT_SAMPLES = STT_RATE // 10
#: Speech synthesized ahead of playout before the next sentence is synthesized.
LOOKAHEAD_S = 1.5
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+")
_PARAM = re.compile(r"^malformed \S+ event: ([^:]+): ")


class Transport(Protocol):
    """What a session needs from its call."""

    @property
    def has_audio(self) -> bool:
        """True when the call has an outgoing audio track."""
        ...

    def send_text(self, text: str) -> None:
        """Send one data-channel message (dropped when the channel is not open)."""
        ...

    def play(self, pcm: Pcm, rate: int) -> None:
        """Queue speech on the outgoing track."""
        ...

    def clear_audio(self) -> None:
        """Drop all queued speech at once."""
        ...

    @property
    def queued_seconds(self) -> float:
        """Speech queued and not yet sent."""
        ...

    async def played(self) -> None:
        """Return when all queued speech has been sent."""
        ...


@dataclass
class Services:
    """Heavy shared helpers, one set per peer."""

    synthesizer: Synthesizer
    recognizer: Recognizer
    responder: Responder


class OutputAudioDone(BaseModel):
    """``response.output_audio.done`` (the lead's events module has no model for it)."""

    event_id: str = ""
    type: Literal["response.output_audio.done"] = "response.output_audio.done"
    response_id: str
    item_id: str
    output_index: int = 0
    content_index: int = 0


@dataclass
class _Response:
    id: str
    item: ev.Item
    audio: bool
    instructions: str
    voice: str | None
    speed: float
    task: asyncio.Task[None] | None = None
    audio_started: bool = False
    text: str = ""
    audio_samples: int = 0
    metadata: Any = None
    parts: list[str] = field(default_factory=list)


def default_session(model: str | None = None) -> ev.Session:
    """The settings a new call starts with (before the client's own)."""
    return ev.Session(
        type="realtime",
        id=ev.new_id("sess"),
        object="realtime.session",
        model=model or "gpt-realtime",
        instructions="",
        output_modalities=["audio"],
        audio=ev.SessionAudio(
            input=ev.AudioInput(
                format=ev.AudioFormat(type="audio/pcm", rate=24000),
                turn_detection=ev.ServerVad(),
            ),
            output=ev.AudioOutput(
                format=ev.AudioFormat(type="audio/pcm", rate=24000), voice="alloy", speed=1.0
            ),
        ),
        tools=[],
        tool_choice="auto",
        max_output_tokens="inf",
    )


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def session_patch(raw: dict[str, Any], parsed: ev.Session) -> dict[str, Any]:
    """The fields a ``session.update`` really set.

    Works around ``parse_client_event``: its session always has ``audio.input.turn_detection``
    set (None) even when the client did not send it, which would switch VAD off on any
    partial audio update. Only keep turn_detection when the raw message had it.
    """
    patch = parsed.model_dump(exclude_unset=True)
    is_ga = "audio" in raw or raw.get("type") in ("realtime", "transcription")
    if is_ga:
        audio = raw.get("audio")
        sent = (
            isinstance(audio, dict)
            and isinstance(audio.get("input"), dict)
            and "turn_detection" in audio["input"]
        )
    else:
        sent = "turn_detection" in raw
    if not sent:
        inp = patch.get("audio", {}).get("input")
        if isinstance(inp, dict):
            inp.pop("turn_detection", None)
    return patch


def merge_session(current: ev.Session, patch: dict[str, Any]) -> ev.Session:
    """``current`` with ``patch`` applied (nested objects merge, other values replace)."""
    patch = {k: v for k, v in patch.items() if k not in ("id", "object", "model")}
    merged = _merge(current.model_dump(exclude_none=False), patch)
    td = patch.get("audio", {}).get("input", {}).get("turn_detection", "unset")
    if isinstance(td, dict) and "type" in td:
        # A new type replaces the old settings instead of merging into them.
        merged["audio"]["input"]["turn_detection"] = td
    return ev.Session.model_validate(merged)


def _words(text: str) -> list[str]:
    return text.split()


def _usage(in_words: int, out_words: int) -> dict[str, Any]:
    return {
        "total_tokens": in_words + out_words,
        "input_tokens": in_words,
        "output_tokens": out_words,
        "input_token_details": {"text_tokens": in_words, "audio_tokens": 0, "cached_tokens": 0},
        "output_token_details": {"text_tokens": out_words, "audio_tokens": 0},
    }


async def sentences(chunks: AsyncIterator[str]) -> AsyncIterator[str]:
    """Regroup streamed text into whole sentences (the rest at the end)."""
    buffer = ""
    async for chunk in chunks:
        buffer += chunk
        *done, buffer = _SENTENCE_END.split(buffer)
        for sentence in done:
            if sentence.strip():
                yield sentence.strip()
    if buffer.strip():
        yield buffer.strip()


class ClientEventError(Exception):
    """A client event that cannot be honoured; becomes an ``error`` event."""

    def __init__(self, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.param = code, message, param


_NOT_JSON = object()


def _load_json(message: str | bytes) -> Any:
    try:
        return json.loads(message)
    except (ValueError, UnicodeDecodeError, RecursionError):  # deep nesting: not an event
        return _NOT_JSON


def _parse(raw: Any) -> ev.ClientEvent:
    """A client event from a decoded message; :class:`ClientEventError` when it is not one."""
    if raw is _NOT_JSON:
        raise ClientEventError("invalid_json", "The event is not valid JSON.")
    if not isinstance(raw, dict):
        raise ClientEventError("invalid_value", "An event must be a JSON object.")
    try:
        # parse_client_event rewrites its argument; give it a copy.
        return ev.parse_client_event(json.loads(json.dumps(raw)))
    except ProtocolError as exc:
        m = _PARAM.match(str(exc))
        raise ClientEventError("invalid_value", str(exc), m.group(1) if m else None) from exc


class RealtimeSession:
    """Protocol state of one call. Create, :meth:`start` when the channel opens, :meth:`close`."""

    def __init__(
        self,
        transport: Transport,
        services: Services,
        *,
        session: ev.Session | None = None,
        dialect: Dialect = "ga",
        on_fatal: Callable[[BaseException], None] | None = None,
        name: str = "call",
    ) -> None:
        self.transport = transport
        self.services = services
        self.session = session or default_session()
        self.dialect: Dialect = dialect
        self.conversation = Conversation()
        self.name = name
        self._on_fatal = on_fatal
        self._tasks: set[asyncio.Task[Any]] = set()
        self._detector: TurnDetector | None = None
        self._commit_buffer: list[Pcm] = []
        self._commit_samples = 0
        self._position = 0  # input samples (16 kHz) received so far
        self._turn_item_id: str | None = None
        self._response: _Response | None = None
        self._playing: str | None = None  # response id whose audio is queued/playing
        self._playout: asyncio.Task[None] | None = None
        self._transcriptions: set[asyncio.Task[Any]] = set()
        self._stt_lock = asyncio.Lock()
        self._item_audio_ms: dict[str, int] = {}
        self._closed = False
        self._rebuild_detector()

    # ------------------------------------------------------------------ plumbing

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=f"{self.name}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("%s: task %s failed", self.name, task.get_name(), exc_info=exc)
            if self._on_fatal is not None and not self._closed:
                self._on_fatal(exc)

    def send(self, event: BaseModel) -> None:
        """Encode one server event in the call's dialect and send it."""
        if self._closed:
            return
        if self.dialect == "beta":
            if isinstance(event, ev.ItemDone):
                return  # beta had no conversation.item.done
            event = _to_beta_content(event)
        if isinstance(event, OutputAudioDone) and not event.event_id:
            event.event_id = ev.new_id("event")
        try:
            text = ev.encode(event, dialect=self.dialect)
        except ProtocolError as exc:
            log.warning("%s: cannot send %s: %s", self.name, getattr(event, "type", "?"), exc)
            text = ev.encode(
                ev.ServerError(error=ev.ErrorDetail(type="server_error", message=str(exc)))
            )
        self.transport.send_text(text)

    def _error(self, code: str, message: str, param: str | None, event_id: str | None) -> None:
        self.send(
            ev.ServerError(
                error=ev.ErrorDetail(
                    type="invalid_request_error",
                    code=code,
                    message=message,
                    param=param,
                    event_id=event_id,
                )
            )
        )

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """The data channel opened: announce the session."""
        self.send(ev.SessionCreated(session=self.session))

    async def close(self) -> None:
        """Cancel every task of the session (idempotent)."""
        if self._closed:
            return
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._response = None

    # ------------------------------------------------------------------ client events

    def handle_message(self, message: str | bytes) -> None:
        """One data-channel message from the client."""
        raw = _load_json(message)
        event_id = raw.get("event_id") if isinstance(raw, dict) else None
        try:
            event = _parse(raw)
            assert isinstance(raw, dict)
            self._dispatch(event, raw)
        except ClientEventError as exc:
            log.debug("%s: client event refused: %s", self.name, exc.message)
            self._error(
                exc.code, exc.message, exc.param, event_id if isinstance(event_id, str) else None
            )

    def _dispatch(self, event: ev.ClientEvent, raw: dict[str, Any]) -> None:
        if isinstance(event, ev.UnknownEvent):
            raise ClientEventError(
                "invalid_value",
                f"Invalid value: '{event.type}'. This is not a client event type.",
                "type",
            )
        if isinstance(event, ev.SessionUpdate):
            self._session_update(event, raw)
        elif isinstance(event, ev.ItemCreate):
            self._item_create(event)
        elif isinstance(event, ev.ItemTruncate):
            self._item_truncate(event)
        elif isinstance(event, ev.ItemDelete):
            try:
                self.conversation.delete(event.item_id)
            except UnknownItem:
                raise ClientEventError(
                    "item_delete_invalid_item_id",
                    f"Item with item_id not found: {event.item_id}",
                    "item_id",
                ) from None
            self.send(ev.ItemDeleted(item_id=event.item_id))
        elif isinstance(event, ev.ResponseCreate):
            self._response_create(event.response or {})
        elif isinstance(event, ev.ResponseCancel):
            if self._response is None and self._playing is not None and not event.response_id:
                # The reply is written but still playing: stop what is left of it.
                self._clear_audio()
                return
            if self._response is None or (
                event.response_id and event.response_id != self._response.id
            ):
                raise ClientEventError(
                    "response_cancel_not_active",
                    "Cancellation failed: no active response found",
                )
            self._cancel_response("client_cancelled")
        elif isinstance(event, ev.InputCommit):
            self._input_commit()
        elif isinstance(event, ev.InputClear):
            if self._detector is not None:
                self._detector.reset()
            self._turn_item_id = None
            self._commit_buffer.clear()
            self._commit_samples = 0
            self.send(ev.InputCleared())
        elif isinstance(event, ev.OutputAudioClear):
            rid = self._playing
            self._clear_audio()
            if self._response is not None and self._response.audio:
                self._cancel_response("client_cancelled", audio_cleared=rid is not None)

    def _session_update(self, event: ev.SessionUpdate, raw: dict[str, Any]) -> None:
        raw_session = raw.get("session") if isinstance(raw.get("session"), dict) else {}
        patch = session_patch(raw_session or {}, event.session)
        try:
            updated = merge_session(self.session, patch)
        except ValueError as exc:
            raise ClientEventError("invalid_value", f"Invalid session: {exc}", "session") from exc
        old_td = self.session.audio.input.turn_detection
        self.session = updated
        if updated.audio.input.turn_detection != old_td:
            self._rebuild_detector()
        self.send(ev.SessionUpdated(session=self.session))

    def _rebuild_detector(self) -> None:
        td = self.session.audio.input.turn_detection
        old = self._detector
        self._detector = TurnDetector.from_settings(td) if td is not None else None
        if self._detector is not None:
            self._detector.position = old.position if old is not None else self._position
        self._turn_item_id = None

    def _item_create(self, event: ev.ItemCreate) -> None:
        item = event.item.model_copy(deep=True)
        if item.type == "message" and item.role is None:
            raise ClientEventError("invalid_value", "A message item needs a role.", "item.role")
        if item.id is None:
            item.id = ev.new_id("item")
        else:
            with contextlib.suppress(UnknownItem):
                self.conversation.get(item.id)
                raise ClientEventError(
                    "item_create_duplicate_id", f"Item {item.id} already exists.", "item.id"
                )
        item.object = "realtime.item"
        item.status = "completed"
        try:
            prev = self.conversation.add(item, event.previous_item_id)
        except UnknownItem:
            raise ClientEventError(
                "item_create_invalid_previous_item_id",
                f"previous_item_id not found: {event.previous_item_id}",
                "previous_item_id",
            ) from None
        self.send(ev.ItemAdded(previous_item_id=prev, item=item))
        self.send(ev.ItemDone(previous_item_id=prev, item=item))

    def _item_truncate(self, event: ev.ItemTruncate) -> None:
        try:
            item = self.conversation.get(event.item_id)
        except UnknownItem:
            raise ClientEventError(
                "item_truncate_invalid_item_id",
                f"Item with item_id not found: {event.item_id}",
                "item_id",
            ) from None
        if item.role != "assistant":
            raise ClientEventError(
                "invalid_value", "Only assistant message items can be truncated.", "item_id"
            )
        total_ms = self._item_audio_ms.get(event.item_id, 0)
        if event.audio_end_ms > total_ms:
            raise ClientEventError(
                "invalid_value",
                f"audio_end_ms {event.audio_end_ms} is longer than the item's audio "
                f"({total_ms} ms).",
                "audio_end_ms",
            )
        for part in item.content or []:
            if part.transcript:
                words = part.transcript.split()
                keep = round(len(words) * event.audio_end_ms / total_ms) if total_ms else 0
                part.transcript = " ".join(words[:keep])
        self._item_audio_ms[event.item_id] = event.audio_end_ms
        self.send(
            ev.ItemTruncated(
                item_id=event.item_id,
                content_index=event.content_index,
                audio_end_ms=event.audio_end_ms,
            )
        )

    # ------------------------------------------------------------------ audio input

    def on_audio(self, pcm: Pcm) -> None:
        """16 kHz mono int16 audio from the caller (called for every decoded frame)."""
        if self._closed or pcm.size == 0:
            return
        self._position += pcm.size
        if self._detector is None:
            self._commit_buffer.append(pcm)
            self._commit_samples += pcm.size
            while self._commit_samples > MAX_COMMIT_SAMPLES and self._commit_buffer:
                self._commit_samples -= self._commit_buffer.pop(0).size
            return
        for turn in self._detector.feed(pcm):
            if isinstance(turn, SpeechStarted):
                self._speech_started(turn.audio_start_ms)
            else:
                self._speech_stopped(turn)

    def _speech_started(self, audio_start_ms: int) -> None:
        self._turn_item_id = ev.new_id("item")
        self.send(ev.SpeechStarted(audio_start_ms=audio_start_ms, item_id=self._turn_item_id))
        td = self.session.audio.input.turn_detection
        if td is not None and td.interrupt_response:
            busy = self._response is not None and self._response.audio
            if busy or self._playing is not None:
                rid = self._playing
                self._clear_audio()
                if self._response is not None and self._response.audio:
                    self._cancel_response("turn_detected", audio_cleared=rid is not None)

    def _speech_stopped(self, turn: SpeechStopped) -> None:
        item_id = self._turn_item_id or ev.new_id("item")
        self._turn_item_id = None
        self.send(ev.SpeechStopped(audio_end_ms=turn.audio_end_ms, item_id=item_id))
        td = self.session.audio.input.turn_detection
        self._commit(item_id, turn.audio, respond=td is not None and td.create_response)

    def _input_commit(self) -> None:
        if self._detector is not None:
            turn = self._detector.stop()
            if turn is None:
                raise ClientEventError(
                    "input_audio_buffer_commit_empty",
                    "Error committing input audio buffer: the buffer is empty.",
                )
            item_id = self._turn_item_id or ev.new_id("item")
            self._turn_item_id = None
            self.send(ev.SpeechStopped(audio_end_ms=turn.audio_end_ms, item_id=item_id))
            self._commit(item_id, turn.audio, respond=False)
            return
        if self._commit_samples < MIN_COMMIT_SAMPLES:
            ms = self._commit_samples * 1000 // STT_RATE
            raise ClientEventError(
                "input_audio_buffer_commit_empty",
                f"Error committing input audio buffer: buffer too small. Expected at least "
                f"100ms of audio, but buffer only has {ms}ms of audio.",
            )
        audio = np.concatenate(self._commit_buffer)
        self._commit_buffer.clear()
        self._commit_samples = 0
        self._commit(ev.new_id("item"), audio, respond=False)

    def _commit(self, item_id: str, audio: Pcm, *, respond: bool) -> None:
        prev = self.conversation.last_id
        item = ev.Item(
            id=item_id,
            object="realtime.item",
            type="message",
            status="completed",
            role="user",
            content=[ev.ContentPart(type="input_audio", transcript=None)],
        )
        self.conversation.add(item)
        self.send(ev.InputCommitted(item_id=item_id, previous_item_id=prev))
        self.send(ev.ItemAdded(previous_item_id=prev, item=item))
        self.send(ev.ItemDone(previous_item_id=prev, item=item))
        task = self._spawn(self._transcribe(item, audio, respond), f"transcribe:{item_id}")
        self._transcriptions.add(task)
        task.add_done_callback(self._transcriptions.discard)

    async def _transcribe(self, item: ev.Item, audio: Pcm, respond: bool) -> None:
        assert item.id is not None
        async with self._stt_lock:
            try:
                text = await self.services.recognizer.transcribe(audio)
            except Exception as exc:
                log.warning("%s: recognition failed: %s", self.name, exc)
                self.send(
                    ev.InputTranscriptionFailed(
                        item_id=item.id,
                        error=ev.ErrorDetail(
                            type="transcription_error",
                            code="transcription_failed",
                            message=f"Speech recognition failed: {exc}",
                        ),
                    )
                )
                text = None
        if text is not None:
            if item.content:
                item.content[0].transcript = text
            if text:
                self.send(ev.InputTranscriptionDelta(item_id=item.id, delta=text))
            self.send(
                ev.InputTranscriptionCompleted(
                    item_id=item.id,
                    transcript=text,
                    usage={"type": "duration", "seconds": round(audio.size / STT_RATE, 3)},
                )
            )
        if respond and not self._closed:
            if self._response is None:
                self._start_response({})
            else:
                log.debug("%s: a response is active; not starting another", self.name)

    # ------------------------------------------------------------------ responses

    def _response_create(self, options: dict[str, Any]) -> None:
        if self._response is not None:
            raise ClientEventError(
                "conversation_already_has_active_response",
                f"Conversation already has an active response in progress: "
                f"{self._response.id}. Wait until the response is finished before creating "
                f"a new one.",
            )
        self._start_response(options)

    def _start_response(self, options: dict[str, Any]) -> None:
        modalities = options.get("output_modalities") or options.get("modalities")
        if not isinstance(modalities, list) or not modalities:
            modalities = self.session.output_modalities or ["audio"]
        audio_opts = options.get("audio") if isinstance(options.get("audio"), dict) else {}
        out_opts = (audio_opts or {}).get("output") or {}
        voice = out_opts.get("voice") or options.get("voice") or self.session.audio.output.voice
        instructions = options.get("instructions")
        if not isinstance(instructions, str):
            instructions = self.session.instructions or ""
        audio = "audio" in modalities
        rid = ev.new_id("resp")
        item = ev.Item(
            id=ev.new_id("item"),
            object="realtime.item",
            type="message",
            status="in_progress",
            role="assistant",
            content=[],
        )
        response = _Response(
            id=rid,
            item=item,
            audio=audio,
            instructions=instructions,
            voice=voice if isinstance(voice, str) else None,
            speed=float(self.session.audio.output.speed or 1.0),
            metadata=options.get("metadata"),
        )
        self._response = response
        self.send(
            ev.ResponseCreated(
                response=ev.Response(
                    id=rid, status="in_progress", output=[], conversation_id="conv_local"
                )
            )
        )
        response.task = self._spawn(self._run_response(response), f"response:{rid}")

    def _part(self, r: _Response, *, done: bool) -> ev.ContentPart:
        if r.audio:
            return ev.ContentPart(type="audio", transcript=r.text if done else "")
        return ev.ContentPart(type="text", text=r.text if done else "")

    def _item_content(self, r: _Response) -> list[ev.ContentPart]:
        if r.audio:
            return [ev.ContentPart(type="output_audio", transcript=r.text)]
        return [ev.ContentPart(type="output_text", text=r.text)]

    async def _run_response(self, r: _Response) -> None:
        assert r.item.id is not None
        item_id = r.item.id
        part_common = {"response_id": r.id, "item_id": item_id}
        try:
            if self._transcriptions:
                await asyncio.wait(list(self._transcriptions))
            # The reply being written is not part of what the responder reads.
            messages = self.conversation.messages()
            tools = self._declared_tools()
            call = await self.services.responder.call_tool(messages, tools) if tools else None
            if call is not None:
                self._function_call(r, call)
                return
            prev = self.conversation.add(r.item)
            self.send(ev.OutputItemAdded(response_id=r.id, item=r.item))
            self.send(ev.ItemAdded(previous_item_id=prev, item=r.item))
            self.send(ev.ContentPartAdded(**part_common, part=self._part(r, done=False)))
            chunks = self.services.responder.reply(messages, r.instructions)
            if r.audio:
                await self._speak(r, chunks)
            else:
                async for chunk in chunks:
                    if chunk:
                        r.text += chunk
                        r.item.content = self._item_content(r)
                        self.send(ev.TextDelta(**part_common, delta=chunk))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("%s: response %s failed: %s", self.name, r.id, exc)
            self._finish_response(r, status="failed", error=str(exc))
            return
        self._finish_response(r, status="completed")

    def _declared_tools(self) -> list[str]:
        """Names of the functions the client declared (none when tool_choice is "none")."""
        if self.session.tool_choice == "none":
            return []
        return [tool.name for tool in self.session.tools or []]

    def _function_call(self, r: _Response, call: ToolCall) -> None:
        """The response is a function call: the item, its arguments, and the response's end."""
        assert r.item.id is not None
        item = ev.Item(
            id=r.item.id,
            object="realtime.item",
            type="function_call",
            status="in_progress",
            call_id=call.call_id or ev.new_id("call"),
            name=call.name,
            arguments="",
        )
        r.item = item
        prev = self.conversation.add(item)
        common = {"response_id": r.id, "item_id": r.item.id, "call_id": item.call_id}
        self.send(ev.OutputItemAdded(response_id=r.id, item=item))
        self.send(ev.ItemAdded(previous_item_id=prev, item=item))
        self.send(ev.FunctionArgumentsDelta(**common, delta=call.arguments))
        self.send(ev.FunctionArgumentsDone(**common, name=call.name, arguments=call.arguments))
        item.arguments, item.status = call.arguments, "completed"
        self.send(ev.OutputItemDone(response_id=r.id, item=item))
        self.send(ev.ItemDone(previous_item_id=prev, item=item))
        self._finish_response(r, status="completed")

    async def _speak(self, r: _Response, chunks: AsyncIterator[str]) -> None:
        assert r.item.id is not None
        async for sentence in sentences(chunks):
            # Stay close to real time: a reply is produced as it is spoken, so cancelling
            # a long reply cancels its response (and the transcript stays near the audio).
            # (The track's queue has no "below a level" event to wait on; poll it.)
            while self.transport.has_audio and self.transport.queued_seconds > LOOKAHEAD_S:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            pcm = await self.services.synthesizer.synthesize(sentence, r.voice, r.speed)
            if self._response is not r:
                return
            if pcm.size and self.transport.has_audio:
                if not r.audio_started:
                    r.audio_started = True
                    self._playing = r.id
                    if self._playout is not None:
                        self._playout.cancel()
                        self._playout = None
                    self.send(ev.OutputAudioStarted(response_id=r.id))
                self.transport.play(pcm, TTS_RATE)
            r.audio_samples += pcm.size
            self._item_audio_ms[r.item.id] = r.audio_samples * 1000 // TTS_RATE
            for i, word in enumerate(_words(sentence)):
                delta = word if (not r.text and i == 0) else " " + word
                r.text += delta
                r.item.content = self._item_content(r)
                self.send(ev.AudioTranscriptDelta(response_id=r.id, item_id=r.item.id, delta=delta))

    def _finish_response(
        self, r: _Response, *, status: str, error: str | None = None, reason: str | None = None
    ) -> None:
        if self._response is not r:
            return
        self._response = None
        assert r.item.id is not None
        common = {"response_id": r.id, "item_id": r.item.id}
        message = r.item.type == "message"  # a function call's item is complete already
        if message:
            r.item.status = "completed" if status == "completed" else "incomplete"
            r.item.content = self._item_content(r)
        if status == "completed" and message:
            if r.audio:
                self.send(OutputAudioDone(**common))
                self.send(ev.AudioTranscriptDone(**common, transcript=r.text))
            else:
                self.send(ev.TextDone(**common, text=r.text))
            self.send(ev.ContentPartDone(**common, part=self._part(r, done=True)))
            self.send(ev.OutputItemDone(response_id=r.id, item=r.item))
            self.send(ev.ItemDone(previous_item_id=self._previous_of(r.item.id), item=r.item))
        details: dict[str, Any] | None = None
        if status == "failed":
            details = {"type": "failed", "error": {"type": "server_error", "message": error}}
        elif status == "cancelled":
            details = {"type": "cancelled", "reason": reason}
        in_words = sum(len(m.text.split()) for m in self.conversation.messages())
        self.send(
            ev.ResponseDone(
                response=ev.Response(
                    id=r.id,
                    status=status,
                    status_details=details,
                    output=[r.item],
                    conversation_id="conv_local",
                    usage=_usage(in_words, len(r.text.split())),
                    metadata=r.metadata,
                )
            )
        )
        if status == "completed" and r.audio_started and self._playing == r.id:
            self._playout = self._spawn(self._await_playout(r.id), f"playout:{r.id}")

    def _previous_of(self, item_id: str) -> str | None:
        ids = [it.id for it in self.conversation.items]
        if item_id in ids:
            i = ids.index(item_id)
            return ids[i - 1] if i > 0 else None
        return None

    async def _await_playout(self, response_id: str) -> None:
        await self.transport.played()
        if self._playing == response_id:
            self._playing = None
            self._playout = None
            self.send(ev.OutputAudioStopped(response_id=response_id))

    def _clear_audio(self) -> None:
        """Drop queued speech now; tell the client which response was cut."""
        self.transport.clear_audio()
        if self._playout is not None:
            self._playout.cancel()
            self._playout = None
        rid, self._playing = self._playing, None
        if rid is not None:
            self.send(ev.OutputAudioCleared(response_id=rid))

    def _cancel_response(self, reason: str, *, audio_cleared: bool = False) -> None:
        r = self._response
        if r is None:
            return
        if r.audio_started and not audio_cleared:
            self._clear_audio()
        if r.task is not None:
            r.task.cancel()
        self._finish_response(r, status="cancelled", reason=reason)
        log.debug("%s: response %s cancelled (%s)", self.name, r.id, reason)


def _to_beta_content(event: BaseModel) -> BaseModel:
    """Assistant content parts are ``audio``/``text`` in the beta shape."""
    rename = {"output_audio": "audio", "output_text": "text"}

    def fix(item: ev.Item) -> ev.Item:
        if not item.content or not any(p.type in rename for p in item.content):
            return item
        copy = item.model_copy(deep=True)
        for part in copy.content or []:
            part.type = rename.get(part.type, part.type)  # type: ignore[assignment]
        return copy

    if isinstance(event, ev.ItemAdded | ev.OutputItemAdded | ev.OutputItemDone):
        return event.model_copy(update={"item": fix(event.item)})
    if isinstance(event, ev.ResponseDone):
        resp = event.response.model_copy(update={"output": [fix(i) for i in event.response.output]})
        return event.model_copy(update={"response": resp})
    return event
