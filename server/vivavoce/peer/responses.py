"""The assistant's responses in one peer session: writing them, speaking them, cutting them off.

:class:`Responses` owns the one active response and the speech still playing after it: it asks
the :class:`~vivavoce.peer.responders.Responder` for a reply (or a function call), speaks it
sentence by sentence through :mod:`.tts` onto the call's :class:`Playout`, sends the
``response.*`` events as it goes, and knows how much audio each assistant item had (for
``conversation.item.truncate``).

* A response waits for pending input transcriptions first (the responder needs the words).
* Speech is synthesized at most :data:`LOOKAHEAD_S` ahead of playout, so cancelling a long
  reply cancels its response and the transcript stays near the audio.
* Over WebRTC speech plays on the call's track; over a WebSocket it is sent as
  ``response.output_audio.delta`` events (in ``audio.output.format``) as fast as it is
  synthesized, and there is no output audio buffer: no ``output_audio_buffer.*`` events, no
  server-side truncation on barge-in (the client truncates to what it played).
* Cancelling is synchronous: audio is dropped, ``output_audio_buffer.cleared``, the item's
  ``response.output_item.done``/``conversation.item.done`` (status ``incomplete``) and
  ``response.done`` (status ``cancelled``) are sent before the caller returns.
* As with the real API: ``response.cancel`` with no response in progress is an error;
  ``output_audio_buffer.clear`` only stops playback (the response goes on, silent); on
  barge-in the server truncates the assistant item to the audio played
  (``conversation.item.truncated``); a client truncate past the audio sent is refused;
  ``rate_limits.updated`` follows every ``response.done``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..realtime import events as ev
from ..rtc.tracks import Pcm
from .audio import trim_leading_silence
from .items import Message, ToolCall, UnknownItem, item_text
from .responders import Responder
from .sentences import sentences
from .services import TextToSpeech
from .speculation import Basis, Speculation
from .tts import RATE as TTS_RATE
from .upstreams import UpstreamError, upstream_error
from .wire import ClientEventError, OutputAudioDelta, OutputAudioDone, SessionLink

log = logging.getLogger(__name__)

#: Speech synthesized ahead of playout before the next sentence is synthesized.
LOOKAHEAD_S = 1.5


class Playout(Protocol):
    """What responses need of the call's outgoing audio."""

    @property
    def audio_in_events(self) -> bool:
        """True when speech travels in ``response.output_audio.delta`` events (WebSocket), sent
        as fast as it is synthesized; False when it plays on a track in real time (WebRTC).
        Only a track has an output audio buffer (``output_audio_buffer.*`` events)."""
        ...

    @property
    def has_audio(self) -> bool:
        """True when the call has an outgoing audio track."""
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
class Reply:
    """The response being written (one at a time per session)."""

    id: str
    item: ev.Item
    audio: bool
    instructions: str
    voice: str | None
    speed: float
    task: asyncio.Task[None] | None = None
    audio_started: bool = False
    text: str = ""
    metadata: Any = None
    added: bool = False  # its item was announced (output_item.added was sent)
    #: ``conversation: "none"``: an out-of-band response, its item kept out of the conversation.
    out_of_band: bool = False
    #: ``input``: what the reply answers instead of the conversation (None: the conversation).
    input: list[Message] | None = None
    muted: bool = False  # output_audio_buffer.clear: write on, play nothing more
    #: The reply written ahead of the turn's end, adopted if it fits (:mod:`.speculation`).
    speculation: Speculation | None = None


#: What ``rate_limits.updated`` reports (a tier-1-like budget, reset after a minute).
REQUESTS_PER_MINUTE = 5000
TOKENS_PER_MINUTE = 40_000


def _rate_limits(responses: int, tokens: int) -> list[dict[str, Any]]:
    return [
        {
            "name": "requests",
            "limit": REQUESTS_PER_MINUTE,
            "remaining": max(0, REQUESTS_PER_MINUTE - responses),
            "reset_seconds": 0.012,
        },
        {
            "name": "tokens",
            "limit": TOKENS_PER_MINUTE,
            "remaining": max(0, TOKENS_PER_MINUTE - tokens),
            "reset_seconds": round(60 * tokens / TOKENS_PER_MINUTE, 3),
        },
    ]


#: How the API counts tokens (developers.openai.com, "Managing costs" of the Realtime API):
#: audio in user messages is 1 token per 100 ms, in assistant messages 1 per 50 ms; text is
#: about 4 characters a token (the tokenizer's rule of thumb).
USER_AUDIO_MS_PER_TOKEN = 100
ASSISTANT_AUDIO_MS_PER_TOKEN = 50
CHARS_PER_TOKEN = 4


def text_tokens(text: str | None) -> int:
    return -(-len(text) // CHARS_PER_TOKEN) if text else 0


def audio_tokens(ms: int, per_token: int) -> int:
    return -(-ms // per_token) if ms > 0 else 0


#: Prompt caching, as the API documents it: a prefix under 1024 tokens is never cached, and a
#: longer one is matched in steps of 128 tokens (1024, 1152, …).
CACHE_MIN_TOKENS = 1024
CACHE_STEP_TOKENS = 128


@dataclass
class Counted:
    """Input tokens of a response, by kind."""

    text: int = 0
    audio: int = 0


def _usage(inputs: Counted, cached: Counted, out_text: int, out_audio: int) -> dict[str, Any]:
    """``response.done`` ``usage`` in the SDK's ``RealtimeResponseUsage`` shape (cached tokens
    are a subset of the input tokens)."""
    in_total = inputs.text + inputs.audio
    return {
        "total_tokens": in_total + out_text + out_audio,
        "input_tokens": in_total,
        "output_tokens": out_text + out_audio,
        "input_token_details": {
            "text_tokens": inputs.text,
            "audio_tokens": inputs.audio,
            "image_tokens": 0,
            "cached_tokens": cached.text + cached.audio,
            "cached_tokens_details": {
                "text_tokens": cached.text,
                "audio_tokens": cached.audio,
                "image_tokens": 0,
            },
        },
        "output_token_details": {"text_tokens": out_text, "audio_tokens": out_audio},
    }


class Responses:
    """The active response and the speech playing after it, for one session."""

    def __init__(
        self,
        link: SessionLink,
        playout: Playout,
        synthesizer: TextToSpeech,
        responder: Responder,
        *,
        transcribed: Callable[[], Awaitable[None]],
        on_finished: Callable[[], None] = lambda: None,
    ) -> None:
        self.playout = playout
        self.synthesizer = synthesizer
        self.responder = responder
        self.link = link
        self._transcribed = transcribed
        self._on_finished = on_finished  # the assistant finished a reply (and its speech)
        self.active: Reply | None = None
        self._playing: str | None = None  # response id whose audio is queued/playing
        self._playing_item: str | None = None  # ... and its item
        self._playout: asyncio.Task[None] | None = None
        self._item_audio_ms: dict[str, int] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        #: The session has produced audio (its voice can no longer change).
        self.produced_audio = False
        self._count = 0
        self._tokens = 0
        #: What the last response was given (instructions, then item ids): its prefix is
        #: cached for the next one, as the API's prompt caching does.
        self._last_input: list[str] = []
        #: The reply being written ahead for the turn that is ending (not yet a response).
        self._speculation: Speculation | None = None

    async def idle(self) -> None:
        """Return once no response is in progress."""
        await self._idle.wait()

    # ------------------------------------------------------------------ client events

    def create(self, options: dict[str, Any]) -> None:
        """``response.create``: refused while another response is active."""
        if self.active is not None:
            raise ClientEventError(
                "conversation_already_has_active_response",
                f"Conversation already has an active response in progress: "
                f"{self.active.id}. Wait until the response is finished before creating "
                f"a new one.",
            )
        self.start(options)

    def cancel_by_client(self, response_id: str | None) -> None:
        """``response.cancel``: the active response (none in progress: an error, even while
        the last one still plays)."""
        if self.active is None or (response_id and response_id != self.active.id):
            raise ClientEventError(
                "response_cancel_not_active", "Cancellation failed: no active response found"
            )
        self.cancel("client_cancelled")

    def barge_in(self, *, truncate: bool) -> None:
        """The caller spoke over the assistant: stop its speech and the response writing it,
        and (``truncate``) cut the item to the audio played, as the server does over WebRTC."""
        item_id = self._playing_item if self._playing is not None else None
        played = self.sent_ms(item_id) if item_id is not None else 0
        self.clear_audio()
        if self.active is not None and self.active.audio:
            self.cancel("turn_detected", audio_cleared=True)
        if truncate and item_id is not None and item_id in self.link.items:
            self._truncate(self.link.items.get(item_id), 0, played)

    def clear_output_audio(self) -> None:
        """``output_audio_buffer.clear``: stop playback; the response (if any) goes on silent."""
        if self.active is not None:
            self.active.muted = True
        self.clear_audio()

    def sent_ms(self, item_id: str) -> int:
        """Milliseconds of an item's audio sent to the client so far (0 for none)."""
        total = self._item_audio_ms.get(item_id, 0)
        if item_id == self._playing_item and self._playing is not None:
            total -= round(self.playout.queued_seconds * 1000)
        return max(0, total)

    @property
    def speaking(self) -> bool:
        """An audio response is being written, or its speech is still playing."""
        return (self.active is not None and self.active.audio) or self._playing is not None

    def truncate(self, event: ev.ItemTruncate) -> None:
        """``conversation.item.truncate``: keep the words of the audio the user heard."""
        try:
            item = self.link.items.get(event.item_id)
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
        sent = self.sent_ms(event.item_id)
        if event.audio_end_ms > sent:
            raise ClientEventError(
                "invalid_value",
                f"Audio content of {sent}ms is already shorter than {event.audio_end_ms}ms",
                "audio_end_ms",
            )
        self._truncate(item, event.content_index, event.audio_end_ms)

    def _truncate(self, item: ev.Item, content_index: int, audio_end_ms: int) -> None:
        """Keep the words of the first ``audio_end_ms`` of the item's audio."""
        assert item.id is not None
        total_ms = self._item_audio_ms.get(item.id, 0)
        for part in item.content or []:
            if part.transcript:
                words = part.transcript.split()
                keep = round(len(words) * audio_end_ms / total_ms) if total_ms else 0
                part.transcript = " ".join(words[:keep])
        self._item_audio_ms[item.id] = audio_end_ms
        self.link.send(
            ev.ItemTruncated(
                item_id=item.id, content_index=content_index, audio_end_ms=audio_end_ms
            )
        )

    # ------------------------------------------------------------------ writing ahead

    def speculate(self, words: str) -> None:
        """Start writing the reply the turn now ending would get at its commit, were ``words``
        its words (a detected turn's ``create_response``; see :mod:`.speculation`)."""
        self.drop_speculation()
        if self.active is not None:
            return
        reply = self._reply({})
        messages = self.link.items.messages()
        if words:
            messages.append(Message("user", words))
        basis = self._basis(reply, messages)
        speak = reply.audio and self.playout.has_audio
        self._speculation = Speculation(
            basis, self.responder, self.synthesizer, self.link.spawn, speak=speak
        )
        log.debug("%s: writing ahead for %r", self.link.name, words)

    def drop_speculation(self) -> None:
        """Forget the reply written ahead (its upstream requests closed); idempotent."""
        spec, self._speculation = self._speculation, None
        if spec is not None:
            spec.close()
            log.debug("%s: the reply written ahead was dropped", self.link.name)

    def _basis(self, r: Reply, messages: list[Message]) -> Basis:
        tools = self._declared_tools()
        specs = self._tool_specs() if tools else []
        return Basis(
            tuple(messages),
            r.instructions,
            tuple(tools),
            tuple(specs),
            r.audio,
            r.voice,
            r.speed,
        )

    # ------------------------------------------------------------------ writing a response

    def start(self, options: dict[str, Any], *, turn: bool = False) -> None:
        """Start a response with ``options`` (``response.create``'s) over the session's;
        ``turn``: the one a detected turn asks for at its commit, which may adopt the reply
        written ahead for it (any other drops that)."""
        reply = self._reply(options)
        spec, self._speculation = self._speculation, None
        if turn:
            reply.speculation = spec
        elif spec is not None:
            spec.close()
        self.active = reply
        self._idle.clear()
        self.link.send(
            ev.ResponseCreated(
                response=ev.Response(
                    id=reply.id,
                    status="in_progress",
                    output=[],
                    conversation_id=None if reply.out_of_band else "conv_local",
                )
            )
        )
        reply.task = self.link.spawn(self._run(reply), f"response:{reply.id}")

    def _reply(self, options: dict[str, Any]) -> Reply:
        """A response as ``options`` ask for it (not started)."""
        session = self.link.settings()
        modalities = options.get("output_modalities") or options.get("modalities")
        if not isinstance(modalities, list) or not modalities:
            modalities = session.output_modalities or ["audio"]
        audio_opts = options.get("audio") if isinstance(options.get("audio"), dict) else {}
        out_opts = (audio_opts or {}).get("output") or {}
        voice = out_opts.get("voice") or options.get("voice") or session.audio.output.voice
        instructions = options.get("instructions")
        if not isinstance(instructions, str):
            instructions = session.instructions or ""
        rid = ev.new_id("resp")
        item = ev.Item(
            id=ev.new_id("item"),
            object="realtime.item",
            type="message",
            status="in_progress",
            role="assistant",
            content=[],
        )
        return Reply(
            id=rid,
            item=item,
            audio="audio" in modalities,
            instructions=instructions,
            voice=voice if isinstance(voice, str) else None,
            speed=float(session.audio.output.speed or 1.0),
            metadata=options.get("metadata"),
            out_of_band=options.get("conversation") == "none",
            input=self._input(options.get("input")),
        )

    def _input(self, raw: Any) -> list[Message] | None:
        """``response.create``'s ``input``: items given whole, or references to the
        conversation's (refused when unknown, as the real API does)."""
        if not isinstance(raw, list):
            return None
        out: list[Message] = []
        for entry in raw:
            if not isinstance(entry, dict):
                continue
            if entry.get("type") == "item_reference":
                try:
                    item = self.link.items.get(str(entry.get("id")))
                except UnknownItem:
                    raise ClientEventError(
                        "invalid_value",
                        f"Item with id '{entry.get('id')}' not found in the conversation.",
                        "response.input",
                    ) from None
            else:
                try:
                    item = ev.Item.model_validate(entry)
                except ValueError:
                    raise ClientEventError(
                        "invalid_value", "Invalid item in response.input.", "response.input"
                    ) from None
            if item.role is not None and (text := item_text(item)):
                out.append(Message(item.role, text))
        return out

    def _part(self, r: Reply, *, done: bool) -> ev.ContentPart:
        if r.audio:
            return ev.ContentPart(type="audio", transcript=r.text if done else "")
        return ev.ContentPart(type="text", text=r.text if done else "")

    def _item_content(self, r: Reply) -> list[ev.ContentPart]:
        if r.audio:
            return [ev.ContentPart(type="output_audio", transcript=r.text)]
        return [ev.ContentPart(type="output_text", text=r.text)]

    async def _run(self, r: Reply) -> None:
        assert r.item.id is not None
        item_id = r.item.id
        part_common = {"response_id": r.id, "item_id": item_id}
        try:
            await self._transcribed()
            # The reply being written is not part of what the responder reads.
            messages = self.link.items.messages() if r.input is None else r.input
            tools = self._declared_tools()
            specs = self._tool_specs() if tools else []
            spec = r.speculation
            if spec is not None and (r.input is not None or spec.basis != self._basis(r, messages)):
                log.debug("%s: the reply written ahead does not fit", self.link.name)
                spec.close()
                spec = r.speculation = None
            if spec is not None:
                answer = await spec.answer()
            else:
                answer = await self.responder.answer(messages, r.instructions, tools, specs)
            if isinstance(answer, ToolCall):
                self._function_call(r, answer)
                return
            r.added = True
            self.link.send(ev.OutputItemAdded(response_id=r.id, item=r.item))
            if not r.out_of_band:
                prev = self.link.items.add(r.item)
                self.link.send(ev.ItemAdded(previous_item_id=prev, item=r.item))
            self.link.send(ev.ContentPartAdded(**part_common, part=self._part(r, done=False)))
            chunks = answer
            if r.audio:
                await self._speak(r, chunks, spec)
            else:
                async for chunk in chunks:
                    if chunk:
                        r.text += chunk
                        r.item.content = self._item_content(r)
                        self.link.send(ev.TextDelta(**part_common, delta=chunk))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("%s: response %s failed: %s", self.link.name, r.id, exc)
            if isinstance(exc, UpstreamError):
                # What the user needs to hear of it, once; the call goes on.
                self.link.send(ev.ErrorEvent(error=upstream_error(exc)))
            self._finish(r, status="failed", error=str(exc))
            return
        self._finish(r, status="completed")

    def _tool_specs(self) -> list[dict[str, Any]]:
        """The declared functions as the session has them (name, description, parameters)."""
        tools = self.link.settings().tools or []
        return [t.model_dump(exclude={"type"}) for t in tools if t.type == "function" and t.name]

    def _declared_tools(self) -> list[str]:
        """Names of the functions the client declared (none when tool_choice is "none")."""
        session = self.link.settings()
        if session.tool_choice == "none":
            return []
        return [tool.name for tool in session.tools or []]

    def _function_call(self, r: Reply, call: ToolCall) -> None:
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
        prev = self.link.items.add(item)
        r.added = True
        common = {"response_id": r.id, "item_id": r.item.id, "call_id": item.call_id}
        self.link.send(ev.OutputItemAdded(response_id=r.id, item=item))
        self.link.send(ev.ItemAdded(previous_item_id=prev, item=item))
        self.link.send(ev.FunctionArgumentsDelta(**common, delta=call.arguments))
        self.link.send(ev.FunctionArgumentsDone(**common, name=call.name, arguments=call.arguments))
        item.arguments, item.status = call.arguments, "completed"
        self.link.send(ev.OutputItemDone(response_id=r.id, item=item))
        self.link.send(ev.ItemDone(previous_item_id=prev, item=item))
        self._finish(r, status="completed")

    async def _speak(
        self, r: Reply, chunks: AsyncIterator[str], ahead: Speculation | None = None
    ) -> None:
        """Speak the reply sentence by sentence (``ahead``: the adopted reply written ahead,
        whose first sentence may be spoken already)."""
        assert r.item.id is not None
        out = self.playout
        async for sentence in sentences(chunks):
            # Stay close to real time: a reply is produced as it is spoken, so cancelling
            # a long reply cancels its response (and the transcript stays near the audio).
            # (The track's queue has no "below a level" event to wait on; poll it.)
            while out.has_audio and out.queued_seconds > LOOKAHEAD_S:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            # Each piece plays as soon as it is made (an upstream streams a sentence).
            made = await ahead.speech_of(sentence) if ahead is not None else None
            ahead = None  # only the first sentence was spoken ahead
            speech = made or self.synthesizer.stream(sentence, r.voice, r.speed)
            async with contextlib.aclosing(speech):
                async for pcm in speech:
                    if self.active is not r:
                        return
                    self._speak_piece(r, pcm)
            if self.active is not r:
                return
            for i, word in enumerate(sentence.split()):
                delta = word if (not r.text and i == 0) else " " + word
                r.text += delta
                r.item.content = self._item_content(r)
                self.link.send(
                    ev.AudioTranscriptDelta(response_id=r.id, item_id=r.item.id, delta=delta)
                )

    def _speak_piece(self, r: Reply, pcm: Pcm) -> None:
        """One piece of a reply's speech onto the track (or into events), counted."""
        assert r.item.id is not None
        out = self.playout
        if r.muted:
            pcm = pcm[:0]  # output_audio_buffer.clear: nothing more is played
        if not r.audio_started:
            pcm = trim_leading_silence(pcm)  # a reply starts with its first word
        if pcm.size and out.has_audio:
            if not r.audio_started:
                r.audio_started = True
                self.produced_audio = True
                self._playing, self._playing_item = r.id, r.item.id
                if self._playout is not None:
                    self._playout.cancel()
                    self._playout = None
                if not out.audio_in_events:
                    self.link.send(ev.OutputAudioStarted(response_id=r.id))
            self._play(r, pcm)
        played_ms = self._item_audio_ms.get(r.item.id, 0) + pcm.size * 1000 // TTS_RATE
        self._item_audio_ms[r.item.id] = played_ms

    def _play(self, r: Reply, pcm: Pcm) -> None:
        """Speech onto the track, or into delta events in the session's output format."""
        if not self.playout.audio_in_events:
            self.playout.play(pcm, TTS_RATE)
            return
        from .codec import output_deltas

        assert r.item.id is not None
        fmt = self.link.settings().audio.output.format
        for delta in output_deltas(pcm, TTS_RATE, fmt.type if fmt else "audio/pcm"):
            self.link.send(OutputAudioDelta(response_id=r.id, item_id=r.item.id, delta=delta))

    def _finish(
        self, r: Reply, *, status: str, error: str | None = None, reason: str | None = None
    ) -> None:
        if r.speculation is not None:
            r.speculation.close()
        if self.active is not r:
            return
        self.active = None
        assert r.item.id is not None
        common = {"response_id": r.id, "item_id": r.item.id}
        message = r.item.type == "message"  # a function call's item is complete already
        if message:
            r.item.status = "completed" if status == "completed" else "incomplete"
            r.item.content = self._item_content(r)
        if status == "completed" and message:
            if r.audio:
                self.link.send(OutputAudioDone(**common))
                self.link.send(ev.AudioTranscriptDone(**common, transcript=r.text))
            else:
                self.link.send(ev.TextDone(**common, text=r.text))
            self.link.send(ev.ContentPartDone(**common, part=self._part(r, done=True)))
        if message and r.added:
            self.link.send(ev.OutputItemDone(response_id=r.id, item=r.item))
            if not r.out_of_band:
                prev = self.link.items.previous_of(r.item.id)
                self.link.send(ev.ItemDone(previous_item_id=prev, item=r.item))
        details: dict[str, Any] | None = None
        if status == "failed":
            details = {"type": "failed", "error": {"type": "server_error", "message": error}}
        elif status == "cancelled":
            details = {"type": "cancelled", "reason": reason}
        inputs, cached = self._input_tokens(r)
        out_text = text_tokens(r.text if message else r.item.arguments)
        out_audio = 0
        if message and r.audio:
            ms = self._item_audio_ms.get(r.item.id, 0)
            out_audio = audio_tokens(ms, ASSISTANT_AUDIO_MS_PER_TOKEN)
        self.link.send(
            ev.ResponseDone(
                response=ev.Response(
                    id=r.id,
                    status=status,
                    status_details=details,
                    output=[r.item] if r.added else [],
                    conversation_id=None if r.out_of_band else "conv_local",
                    usage=_usage(inputs, cached, out_text, out_audio),
                    metadata=r.metadata,
                )
            )
        )
        self._count += 1
        self._tokens += inputs.text + inputs.audio + out_text + out_audio
        self.link.send(ev.RateLimitsUpdated(rate_limits=_rate_limits(self._count, self._tokens)))
        self._idle.set()
        if status != "completed":
            return
        if r.audio_started and self._playing == r.id:
            self._playout = self.link.spawn(self._await_playout(r.id), f"playout:{r.id}")
        else:
            self._on_finished()

    def _input_tokens(self, r: Reply) -> tuple[Counted, Counted]:
        """What a response was given, in tokens, and the part of it cached: the instructions
        and the conversation's items (user audio 1 token per 100 ms, assistant audio 1 per
        50 ms, text 4 characters a token); the prefix the previous response was given too is
        cached (at least 1024 tokens, in steps of 128, like the API's prompt caching)."""
        parts = [("instructions:" + r.instructions, text_tokens(r.instructions), 0)]
        if r.input is not None:  # out of band: the items it was given, as text
            parts += [(f"input:{i}", text_tokens(m.text), 0) for i, m in enumerate(r.input)]
        else:
            for item in self.link.items.items:
                if item.id is None or item.id == r.item.id:
                    continue  # the reply being written is not its own input
                parts.append((item.id, *self._item_tokens(item)))
        inputs, cached = Counted(), Counted()
        prefix = True
        for i, (key, text, audio) in enumerate(parts):
            inputs.text += text
            inputs.audio += audio
            prefix = prefix and i < len(self._last_input) and self._last_input[i] == key
            if prefix:
                cached.text += text
                cached.audio += audio
        self._last_input = [key for key, _, _ in parts]
        total = cached.text + cached.audio
        if total < CACHE_MIN_TOKENS:
            return inputs, Counted()
        excess = (total - CACHE_MIN_TOKENS) % CACHE_STEP_TOKENS  # the step not matched: the
        from_audio = min(excess, cached.audio)  # prefix's end, audio (the turns) before text
        cached.audio -= from_audio
        cached.text -= excess - from_audio
        return inputs, cached

    def _item_tokens(self, item: ev.Item) -> tuple[int, int]:
        """(text, audio) tokens of one conversation item as input."""
        if item.type == "function_call":
            return text_tokens(item.arguments), 0
        if item.type == "function_call_output":
            return text_tokens(item.output), 0
        assert item.id is not None
        text = audio = 0
        for part in item.content or []:
            if part.type in ("input_audio", "audio", "output_audio"):
                if item.role == "assistant":
                    ms = self._item_audio_ms.get(item.id, 0)
                    audio += audio_tokens(ms, ASSISTANT_AUDIO_MS_PER_TOKEN)
                else:
                    ms = self.link.items.audio_ms.get(item.id, 0)
                    audio += audio_tokens(ms, USER_AUDIO_MS_PER_TOKEN)
            else:
                text += text_tokens(part.text)
        return text, audio

    # ------------------------------------------------------------------ playout

    async def _await_playout(self, response_id: str) -> None:
        await self.playout.played()
        if self._playing == response_id:
            self._playing = None
            self._playout = None
            if not self.playout.audio_in_events:
                self.link.send(ev.OutputAudioStopped(response_id=response_id))
            self._on_finished()

    def clear_audio(self) -> None:
        """Drop queued speech now; tell the client which response was cut."""
        if self._playing is not None and self._playing_item is not None:
            # The item's audio is what was sent: the dropped rest never reached the client.
            self._item_audio_ms[self._playing_item] = self.sent_ms(self._playing_item)
        self.playout.clear_audio()
        if self._playout is not None:
            self._playout.cancel()
            self._playout = None
        rid, self._playing = self._playing, None
        if rid is not None and not self.playout.audio_in_events:
            self.link.send(ev.OutputAudioCleared(response_id=rid))

    def cancel(self, reason: str, *, audio_cleared: bool = False) -> None:
        """End the active response as ``cancelled`` (its speech dropped unless already)."""
        r = self.active
        if r is None:
            return
        if r.audio_started and not audio_cleared:
            self.clear_audio()
        if r.task is not None:
            r.task.cancel()
        self._finish(r, status="cancelled", reason=reason)
        log.debug("%s: response %s cancelled (%s)", self.link.name, r.id, reason)
