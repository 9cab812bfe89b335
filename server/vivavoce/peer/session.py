"""One realtime session of the local peer: client events in, server events out.

:class:`RealtimeSession` owns the protocol state of a call and nothing of WebRTC: it reads
client events and dispatches them, keeps the session settings and the conversation items, and
talks to the call through a small :class:`Transport`. Two parts do the work it dispatches:

* :class:`~vivavoce.peer.input_audio.InputAudio`: the caller's 16 kHz audio, cut into turns
  (:mod:`.vad`) or committed by the client, made user items and transcribed (:mod:`.stt`; a
  detected turn while it is spoken, :mod:`.turn_words`);
* :class:`~vivavoce.peer.responses.Responses`: the assistant's replies (:mod:`.responders`),
  spoken (:mod:`.tts`), and cancelled.

A transcription session (``type: "transcription"``, dictation) has no assistant: its turns
are only transcribed (the text streamed word by word as ``…transcription.delta`` events, then
``…completed``), and ``response.create`` is refused.

This module wires them together: a committed turn starts a response when the session asks
for ``create_response`` (at commit, or after its transcription with ``transcription_lag``
``"before"``); the user starting to speak cuts the assistant's speech when
``interrupt_response`` is on (and truncates its item, with ``server_truncation``). Client
mistakes produce an ``error`` event carrying the client's ``event_id`` (see :mod:`.wire`);
nothing a client sends ends the call. Refused as by the real API: changing the model, or the
voice once audio was produced; with ``ga_only``, a beta-shaped session.

Over a WebSocket (:attr:`Transport.audio_in_events`) the caller's audio arrives in
``input_audio_buffer.append`` events (decoded per ``audio.input.format``, :mod:`.codec`), and
``output_audio_buffer.clear`` is refused: that buffer exists only on WebRTC calls. Over WebRTC
the audio comes on the track, and ``input_audio_buffer.append`` is not a client event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from pydantic import BaseModel

from ..realtime import events as ev
from ..rtc.tracks import Pcm
from ..tasks import CloseOnce, TaskSet
from .codec import InputDecoder
from .errors import one_line
from .input_audio import InputAudio
from .items import ConversationItems, UnknownItem
from .options import PeerOptions
from .responses import Playout, Responses
from .services import Services
from .session_config import (
    BETA_DISABLED,
    default_session,
    is_beta_shape,
    merge_session,
    session_patch,
)
from .turn_words import EarlyListener
from .wire import (
    ClientEventError,
    InputAppend,
    SessionLink,
    encode_server_event,
    load_json,
    parse_client_message,
)

log = logging.getLogger(__name__)


class Transport(Playout, Protocol):
    """What a session needs from its call: the outgoing audio, and where events go (the data
    channel of a WebRTC call, or the WebSocket; see :mod:`.rtc` and :mod:`.ws`)."""

    def send_text(self, text: str) -> None:
        """Send one event message (dropped when the channel is not open)."""
        ...


class RealtimeSession:
    """Protocol state of one call. Create, :meth:`start` when the channel opens, :meth:`close`."""

    def __init__(
        self,
        transport: Transport,
        services: Services,
        *,
        session: ev.Session | None = None,
        dialect: ev.Dialect = "ga",
        on_failure: Callable[[], None] | None = None,
        name: str = "call",
        options: PeerOptions | None = None,
    ) -> None:
        self.transport = transport
        self.services = services
        self.session = session or default_session()
        self.dialect: ev.Dialect = dialect
        self.options = options or PeerOptions()
        self.items = ConversationItems()
        self.name = name
        self._on_failure = on_failure
        self._tasks = TaskSet(f"peer session {name}")
        self._closing = CloseOnce()
        self._decoder: InputDecoder | None = None  # input_audio_buffer.append's, when used
        link = SessionLink(name, self.items, self._settings, self.send, self._spawn)
        self.input = InputAudio(
            link,
            services.recognizer,
            on_speech_started=self._caller_spoke,
            on_respond=self._respond,
            responses_idle=self._responses_idle,
            lag=self.options.transcription_lag,
            early=EarlyListener(self._early_words, self._early_dropped),
        )
        self.responses = Responses(
            link,
            transport,
            services.synthesizer,
            services.responder,
            transcribed=self.input.transcribed,
            on_finished=self.input.assistant_finished,
        )

    # ------------------------------------------------------------------ plumbing

    def _settings(self) -> ev.Session:
        return self.session

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = self._tasks.spawn(coro, name)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        # The task set logs the failure; a session left half-working ends its call.
        if task.cancelled() or task.exception() is None:
            return
        if self._on_failure is not None and not self._closing.started:
            self._on_failure()

    def send(self, event: BaseModel) -> None:
        """Encode one server event in the call's dialect and send it."""
        if self._closing.started:
            return
        text = encode_server_event(event, self.dialect, self.name)
        if text is not None:
            self.transport.send_text(text)

    async def _responses_idle(self) -> None:
        await self.responses.idle()

    def _error(self, code: str, message: str, param: str | None, event_id: str | None) -> None:
        self.send(
            ev.ErrorEvent(
                error=ev.ErrorDetail(
                    type="invalid_request_error",
                    code=code,
                    message=one_line(message),
                    param=param,
                    event_id=event_id,
                )
            )
        )

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """The data channel opened: announce the session."""
        self.send(ev.SessionCreated(session=self.session))

    def expire(self) -> None:
        """The session reached its maximum duration: tell the client (the call closes it)."""
        seconds = self.options.max_session_seconds
        span = f"{seconds / 60:g} minutes" if seconds % 60 == 0 else f"{seconds:g} seconds"
        self._error(
            "session_expired", f"Your session hit the maximum duration of {span}.", None, None
        )

    async def close(self) -> None:
        """Cancel every task of the session (idempotent; a second caller waits for the first)."""
        await self._closing.run(self._close)

    async def _close(self) -> None:
        self.input.close()
        await self._tasks.cancel_all()
        self.responses.active = None

    # ------------------------------------------------------------------ what the parts ask

    def _caller_spoke(self) -> None:
        td = self.session.audio.input.turn_detection
        if td is not None and td.interrupt_response and self.responses.speaking:
            # Over a WebSocket the server cannot know what was played: the client truncates.
            events = self.transport.audio_in_events
            self.responses.barge_in(truncate=self.options.server_truncation and not events)

    def _early_words(self, words: str) -> None:
        """The words of a turn about to end (server_vad): start writing its reply if the
        commit will ask for one (the ``speculate`` option; :mod:`.speculation`)."""
        td = self.session.audio.input.turn_detection
        if (
            not self.options.speculate
            or self._closing.started
            or self.session.type == "transcription"
            or not isinstance(td, ev.ServerVad)
            or not td.create_response
            or self.input.lag == "before"
            or self.responses.active is not None
        ):
            return
        self.responses.speculate(words)

    def _early_dropped(self) -> None:
        self.responses.drop_speculation()

    def _respond(self) -> None:
        """A turn asks for a response (``create_response``); a transcription session has none."""
        if self._closing.started or self.session.type == "transcription":
            return
        self.input.stop_idle_timer()
        if self.responses.active is None:
            self.responses.start({}, turn=True)
        else:
            log.debug("%s: a response is active; not starting another", self.name)

    def on_audio(self, pcm: Pcm) -> None:
        """16 kHz mono int16 audio from the caller (called for every decoded frame)."""
        if self._closing.started or pcm.size == 0:
            return
        self.input.feed(pcm)

    # ------------------------------------------------------------------ client events

    def handle_message(self, message: str | bytes) -> None:
        """One data-channel message from the client (ignored once closing: it would start tasks
        that nothing cancels)."""
        if self._closing.started:
            return
        raw = load_json(message)
        event_id = raw.get("event_id") if isinstance(raw, dict) else None
        try:
            event = parse_client_message(raw, self.dialect)
            assert isinstance(raw, dict)
            self._dispatch(event, raw)
        except ClientEventError as exc:
            log.debug("%s: client event refused: %s", self.name, exc.message)
            self._error(
                exc.code, exc.message, exc.param, event_id if isinstance(event_id, str) else None
            )

    def _dispatch(self, event: ev.ClientEvent | InputAppend, raw: dict[str, Any]) -> None:
        if isinstance(event, InputAppend) and self.transport.audio_in_events:
            self._append(event)
            return
        if not isinstance(event, ev.ItemRetrieve | ev.OutputAudioClear):
            # The session or the conversation may change: the reply written ahead is not the
            # one the turn will get (a response created now would not adopt it either).
            self.responses.drop_speculation()
        if isinstance(event, ev.UnknownEvent | InputAppend):
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
            self.responses.truncate(event)
        elif isinstance(event, ev.ItemDelete):
            self._item_delete(event)
        elif isinstance(event, ev.ItemRetrieve):
            self._item_retrieve(event)
        elif isinstance(event, ev.ResponseCreate):
            if self.session.type == "transcription":
                raise ClientEventError(
                    "invalid_request_error",
                    "A transcription session has no responses: it only transcribes input audio.",
                    "type",
                )
            self.input.stop_idle_timer()
            self.responses.create(event.response or {})
        elif isinstance(event, ev.ResponseCancel):
            self.responses.cancel_by_client(event.response_id)
        elif isinstance(event, ev.InputCommit):
            self.input.commit()
        elif isinstance(event, ev.InputClear):
            self.input.clear()
        elif isinstance(event, ev.OutputAudioClear):
            if self.transport.audio_in_events:
                raise ClientEventError(
                    "invalid_value",
                    "output_audio_buffer.clear is only supported for WebRTC and SIP calls.",
                    "type",
                )
            self.responses.clear_output_audio()

    def _append(self, event: InputAppend) -> None:
        """``input_audio_buffer.append``: decode the audio and hear it like a track's."""
        from .codec import AudioPayloadError

        fmt = self.session.audio.input.format
        if self._decoder is None:
            self._decoder = InputDecoder()
        try:
            pcm = self._decoder(event.audio, fmt.type if fmt else "audio/pcm")
        except AudioPayloadError as exc:
            raise ClientEventError("invalid_value", str(exc), "audio") from None
        self.on_audio(pcm)

    def _session_update(self, event: ev.SessionUpdate, raw: dict[str, Any]) -> None:
        raw_session = raw.get("session") if isinstance(raw.get("session"), dict) else {}
        if self.options.ga_only and is_beta_shape(raw_session or {}):
            raise ClientEventError("beta_api_shape_disabled", BETA_DISABLED)
        model = (raw_session or {}).get("model")
        if model is not None and model != self.session.model:
            # The real API's message is not documented; this one says what it means.
            raise ClientEventError(
                "invalid_value",
                f"Cannot update a session's model (it is '{self.session.model}'): start a new "
                f"session to use '{model}'.",
                "session.model",
            )
        patch = session_patch(raw_session or {}, event.session)
        voice = patch.get("audio", {}).get("output", {}).get("voice")
        changed = voice is not None and voice != self.session.audio.output.voice
        if changed and self.responses.produced_audio:
            raise ClientEventError(
                "cannot_update_voice",
                "Cannot update a conversation's voice if assistant audio is present.",
            )
        try:
            updated = merge_session(self.session, patch)
        except ValueError as exc:
            raise ClientEventError("invalid_value", f"Invalid session: {exc}", "session") from exc
        old_input = self.session.audio.input
        self.session = updated
        if updated.audio.input.turn_detection != old_input.turn_detection:
            self.input.turn_detection_changed()
        if updated.audio.input.noise_reduction != old_input.noise_reduction:
            self.input.noise_reduction_changed()
        self.send(ev.SessionUpdated(session=self.session))

    def _item_create(self, event: ev.ItemCreate) -> None:
        item = event.item.model_copy(deep=True)
        if item.type == "message" and item.role is None:
            raise ClientEventError("invalid_value", "A message item needs a role.", "item.role")
        if item.id is None:
            item.id = ev.new_id("item")
        else:
            with contextlib.suppress(UnknownItem):
                self.items.get(item.id)
                raise ClientEventError(
                    "item_create_duplicate_id", f"Item {item.id} already exists.", "item.id"
                )
        item.object = "realtime.item"
        item.status = "completed"
        try:
            prev = self.items.add(item, event.previous_item_id)
        except UnknownItem:
            raise ClientEventError(
                "item_create_invalid_previous_item_id",
                f"previous_item_id not found: {event.previous_item_id}",
                "previous_item_id",
            ) from None
        self.send(ev.ItemAdded(previous_item_id=prev, item=item))
        self.send(ev.ItemDone(previous_item_id=prev, item=item))

    def _item_retrieve(self, event: ev.ItemRetrieve) -> None:
        try:
            item = self.items.get(event.item_id)
        except UnknownItem:
            raise ClientEventError(
                "item_retrieve_invalid_item_id",
                f"Item with item_id not found: {event.item_id}",
                "item_id",
            ) from None
        self.send(ev.ItemRetrieved(item=item))

    def _item_delete(self, event: ev.ItemDelete) -> None:
        try:
            self.items.delete(event.item_id)
        except UnknownItem:
            raise ClientEventError(
                "item_delete_invalid_item_id",
                f"Item with item_id not found: {event.item_id}",
                "item_id",
            ) from None
        self.send(ev.ItemDeleted(item_id=event.item_id))
