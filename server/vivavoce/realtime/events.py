"""Typed events of the OpenAI Realtime protocol (GA shape, beta names accepted as aliases).

This module is shared by the client engine and the local peer: it is the wire, nothing else.

* ``parse_server_event`` / ``parse_client_event`` turn one data-channel message into a model.
  Beta names (``response.audio_transcript.delta`` …) are mapped to their GA names first.
  Unknown types become :class:`UnknownEvent` and never raise; a *known* type with a broken
  shape raises :class:`~vivavoce.errors.ProtocolError` with one line saying what is wrong.
* ``encode`` serializes any event and refuses messages over :data:`MAX_MESSAGE_BYTES`.
* ``Session`` is the GA session object; ``session_from_beta``/``session_to_beta`` convert the
  flat beta shape, which self-hosted servers and old clients still use.
* Parsing is lenient where servers grow: new keys are kept, ``null`` for a key we hold with a
  default means "absent", item and content-part types are open strings (MCP items, new parts),
  and a voice may be an object (``{"id": "voice_…"}``, a custom voice).
* Every client event carries an ``event_id`` (``evt_…``); :class:`SentEvents` remembers which
  request had which id, so a server ``error`` can name the request that caused it.
* :func:`fit_function_output` shortens a tool's output so its ``conversation.item.create`` fits
  one data-channel message.
"""

from __future__ import annotations

import json
import re
import secrets
from collections import OrderedDict
from functools import cache
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    TypeAdapter,
    ValidationError,
    model_serializer,
    model_validator,
)

from ..errors import ProtocolError

#: The data channel rejects a single message above 64 KiB.
MAX_MESSAGE_BYTES = 64 * 1024

#: Which shape of the protocol a call speaks: GA, or the beta names and flat session.
Dialect = Literal["ga", "beta"]

#: Beta (legacy) event names and the GA names they mean.
BETA_ALIASES: dict[str, str] = {
    "response.audio_transcript.delta": "response.output_audio_transcript.delta",
    "response.audio_transcript.done": "response.output_audio_transcript.done",
    "response.text.delta": "response.output_text.delta",
    "response.text.done": "response.output_text.done",
    "response.audio.delta": "response.output_audio.delta",
    "response.audio.done": "response.output_audio.done",
    "conversation.item.created": "conversation.item.added",
}
GA_TO_BETA: dict[str, str] = {ga: beta for beta, ga in BETA_ALIASES.items()}


def new_id(prefix: str) -> str:
    """An id shaped like the provider's (``item_…``, ``resp_…``, ``event_…``)."""
    return f"{prefix}_{secrets.token_hex(10)}"


class _Model(BaseModel):
    # Keep every field the server sends, even ones we do not model: nothing is lost.
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, data: Any) -> Any:
        # A server that sends ``null`` for a key we hold with a default (the SDK types make
        # nearly every key Optional) means "not set": take the default instead of failing.
        if isinstance(data, dict):
            drop = _defaults_not_null(cls)
            if any(data.get(k, 0) is None for k in drop):
                return {k: v for k, v in data.items() if v is not None or k not in drop}
        return data


@cache
def _defaults_not_null(model: type[BaseModel]) -> frozenset[str]:
    """Keys (names and aliases) of fields that have a default but do not accept None."""
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        nullable = field.annotation is Any or type(None) in get_args(field.annotation)
        if not field.is_required() and not nullable:
            keys.update(k for k in (name, field.alias) if k)
    return frozenset(keys)


# --------------------------------------------------------------------------- session


class AudioFormat(_Model):
    type: Literal["audio/pcm", "audio/pcmu", "audio/pcma"] = "audio/pcm"
    rate: int | None = 24000


class Transcription(_Model):
    model: str | None = "whisper-1"
    language: str | None = None
    prompt: str | None = None
    #: Words or phrases to guide transcription (gpt-transcribe, gpt-live-transcribe).
    keywords: list[str] | None = None


class ServerVad(_Model):
    type: Literal["server_vad"] = "server_vad"
    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500
    idle_timeout_ms: int | None = None
    create_response: bool = True
    interrupt_response: bool = True


class SemanticVad(_Model):
    type: Literal["semantic_vad"] = "semantic_vad"
    eagerness: Literal["low", "medium", "high", "auto"] = "auto"
    create_response: bool = True
    interrupt_response: bool = True


TurnDetection = Annotated[ServerVad | SemanticVad, Field(discriminator="type")]


class NoiseReduction(_Model):
    type: Literal["near_field", "far_field"] = "near_field"


class AudioInput(_Model):
    format: AudioFormat | None = None
    transcription: Transcription | None = None
    turn_detection: TurnDetection | None = Field(default_factory=ServerVad)
    noise_reduction: NoiseReduction | None = None

    @model_serializer(mode="wrap")
    def _keep_null_turn_detection(self, handler: SerializerFunctionWrapHandler) -> Any:
        # ``turn_detection: null`` means push-to-talk; exclude_none must not drop it.
        data = handler(self)
        if isinstance(data, dict) and self.turn_detection is None:
            data.setdefault("turn_detection", None)  # None is never the default: it was set
        # ``noise_reduction: null`` turns noise reduction off (once on): kept when set.
        if isinstance(data, dict) and "noise_reduction" in self.model_fields_set:
            data.setdefault("noise_reduction", None)
        return data


class CustomVoice(_Model):
    """A custom voice, named by its id (``{"id": "voice_…"}``) instead of a built-in name."""

    id: str


class AudioOutput(_Model):
    format: AudioFormat | None = None
    voice: str | CustomVoice | None = None
    speed: float | None = None

    @property
    def voice_name(self) -> str | None:
        """The voice as one string: a built-in name, or a custom voice's id."""
        return self.voice.id if isinstance(self.voice, CustomVoice) else self.voice


class SessionAudio(_Model):
    input: AudioInput = Field(default_factory=AudioInput)
    output: AudioOutput = Field(default_factory=AudioOutput)


class Tool(_Model):
    type: str = "function"  # "mcp" tools have a server_label instead of a name
    name: str = ""
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=dict)


class Session(_Model):
    """The GA session object (``session.update``, ``session.created``, client secrets)."""

    type: Literal["realtime", "transcription"] = "realtime"
    id: str | None = None
    object: str | None = None
    model: str | None = None
    instructions: str | None = None
    output_modalities: list[Literal["audio", "text"]] | None = None
    audio: SessionAudio = Field(default_factory=SessionAudio)
    tools: list[Tool] | None = None
    tool_choice: Any = None
    max_output_tokens: int | Literal["inf"] | None = None

    @model_serializer(mode="wrap")
    def _transcription_has_no_assistant(self, handler: SerializerFunctionWrapHandler) -> Any:
        # A transcription session (GA ``type: "transcription"``) has only input audio: no
        # model, instructions, voice, tools or output (the API refuses them there).
        data = handler(self)
        if isinstance(data, dict) and self.type == "transcription":
            for key in TRANSCRIPTION_OMITS:
                data.pop(key, None)
            audio = data.get("audio")
            if isinstance(audio, dict):
                audio.pop("output", None)
        return data


#: Keys of a realtime session that a transcription session does not have.
TRANSCRIPTION_OMITS = (
    "model", "instructions", "output_modalities", "tools", "tool_choice", "max_output_tokens",
)  # fmt: skip


def session_from_beta(raw: dict[str, Any]) -> Session:
    """Read a flat beta session (``voice``, ``turn_detection``, ``input_audio_transcription``)."""
    if "audio" in raw or raw.get("type") in ("realtime", "transcription"):
        return Session.model_validate(raw)
    audio: dict[str, Any] = {"input": {}, "output": {}}
    if "voice" in raw:
        audio["output"]["voice"] = raw["voice"]
    if "speed" in raw:
        audio["output"]["speed"] = raw["speed"]
    if "turn_detection" in raw:
        audio["input"]["turn_detection"] = raw["turn_detection"]
    if raw.get("input_audio_transcription") is not None:
        audio["input"]["transcription"] = raw["input_audio_transcription"]
    if "input_audio_noise_reduction" in raw:  # null: off
        audio["input"]["noise_reduction"] = raw["input_audio_noise_reduction"]
    out: dict[str, Any] = {
        k: raw[k] for k in ("id", "model", "instructions", "tools", "tool_choice") if k in raw
    }
    if "modalities" in raw:
        if not isinstance(raw["modalities"], list):
            raise ValueError("modalities must be an array")
        out["output_modalities"] = ["audio"] if "audio" in raw["modalities"] else ["text"]
    if "max_response_output_tokens" in raw:
        out["max_output_tokens"] = raw["max_response_output_tokens"]
    audio = {side: keys for side, keys in audio.items() if keys}
    if audio:
        out["audio"] = audio
    return Session.model_validate(out)


def session_to_beta(session: Session) -> dict[str, Any]:
    """The flat beta shape of a session, for servers that speak only beta."""
    out: dict[str, Any] = {}
    if session.model:
        out["model"] = session.model
    if session.instructions is not None:
        out["instructions"] = session.instructions
    if session.output_modalities:
        out["modalities"] = ["audio", "text"] if "audio" in session.output_modalities else ["text"]
    voice = session.audio.output.voice
    if voice:
        out["voice"] = voice if isinstance(voice, str) else voice.model_dump(exclude_none=True)
    td = session.audio.input.turn_detection
    out["turn_detection"] = td.model_dump(exclude_none=True) if td else None
    tr = session.audio.input.transcription
    if tr is not None:
        # The beta shape has no keywords: they go as a prompt (whisper-1 reads a word list).
        beta_tr = tr.model_dump(exclude_none=True, exclude={"keywords"})
        if tr.keywords and not tr.prompt:
            beta_tr["prompt"] = ", ".join(tr.keywords)
        out["input_audio_transcription"] = beta_tr
    if "noise_reduction" in session.audio.input.model_fields_set:
        nr = session.audio.input.noise_reduction
        out["input_audio_noise_reduction"] = nr.model_dump(exclude_none=True) if nr else None
    if session.tools is not None:
        out["tools"] = [t.model_dump(exclude_none=True) for t in session.tools]
    return out


# --------------------------------------------------------------------------- items


#: Content part types of the protocol (``input_*`` user, ``output_*`` assistant, ``text``/``audio``
#: in ``response.content_part.*`` and beta items). Parts of other types are kept, not refused.
ContentType = Literal[
    "input_text", "input_audio", "input_image", "output_text", "output_audio", "text", "audio",
    "item_reference",
]  # fmt: skip


class ContentPart(_Model):
    type: str  # one of ContentType, or a newer one
    text: str | None = None
    transcript: str | None = None
    audio: str | None = None

    @model_serializer(mode="wrap")
    def _keep_null_transcript(self, handler: SerializerFunctionWrapHandler) -> Any:
        # A user's audio part says ``"transcript": null`` until the transcription is known
        # (clients such as agents-js require the key); exclude_none must not drop it.
        data = handler(self)
        if isinstance(data, dict) and self.type == "input_audio" and self.transcript is None:
            data.setdefault("transcript", None)
        return data


#: Item types vivavoce acts on. Others (``mcp_call``, ``mcp_list_tools``,
#: ``mcp_approval_request`` …) are kept as they came and passed over.
ItemType = Literal["message", "function_call", "function_call_output"]


class Item(_Model):
    id: str | None = None
    object: str | None = None
    type: str = "message"  # one of ItemType, or another the server has (MCP items)
    status: str | None = None
    role: Literal["user", "assistant", "system"] | None = None
    content: list[ContentPart] | None = None
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None
    output: str | None = None


class Response(_Model):
    id: str | None = None
    object: str | None = "realtime.response"
    status: str | None = None
    status_details: Any = None
    output: list[Item] = Field(default_factory=list)
    conversation_id: str | None = None
    usage: Any = None


class ErrorDetail(_Model):
    type: str = "invalid_request_error"
    code: str | None = None
    message: str = ""
    param: str | None = None
    event_id: str | None = None


# --------------------------------------------------------------------------- server events


class _ServerEvent(_Model):
    event_id: str = Field(default_factory=lambda: new_id("event"))


class SessionCreated(_ServerEvent):
    type: Literal["session.created"] = "session.created"
    session: Session


class SessionUpdated(_ServerEvent):
    type: Literal["session.updated"] = "session.updated"
    session: Session


class ErrorEvent(_ServerEvent):
    type: Literal["error"] = "error"
    error: ErrorDetail


class SpeechStarted(_ServerEvent):
    type: Literal["input_audio_buffer.speech_started"] = "input_audio_buffer.speech_started"
    audio_start_ms: int = 0
    item_id: str


class SpeechStopped(_ServerEvent):
    type: Literal["input_audio_buffer.speech_stopped"] = "input_audio_buffer.speech_stopped"
    audio_end_ms: int = 0
    item_id: str


class InputCommitted(_ServerEvent):
    type: Literal["input_audio_buffer.committed"] = "input_audio_buffer.committed"
    item_id: str
    previous_item_id: str | None = None


class InputCleared(_ServerEvent):
    type: Literal["input_audio_buffer.cleared"] = "input_audio_buffer.cleared"


class ItemAdded(_ServerEvent):
    type: Literal["conversation.item.added"] = "conversation.item.added"
    previous_item_id: str | None = None
    item: Item


class ItemDone(_ServerEvent):
    type: Literal["conversation.item.done"] = "conversation.item.done"
    previous_item_id: str | None = None
    item: Item


class ItemTruncated(_ServerEvent):
    type: Literal["conversation.item.truncated"] = "conversation.item.truncated"
    item_id: str
    content_index: int = 0
    audio_end_ms: int = 0


class ItemDeleted(_ServerEvent):
    type: Literal["conversation.item.deleted"] = "conversation.item.deleted"
    item_id: str


class ItemRetrieved(_ServerEvent):
    """``conversation.item.retrieved``: the item as the server holds it."""

    type: Literal["conversation.item.retrieved"] = "conversation.item.retrieved"
    item: Item


class InputTimeoutTriggered(_ServerEvent):
    """``input_audio_buffer.timeout_triggered``: server_vad's ``idle_timeout_ms`` passed."""

    type: Literal["input_audio_buffer.timeout_triggered"] = "input_audio_buffer.timeout_triggered"
    audio_start_ms: int = 0
    audio_end_ms: int = 0
    item_id: str


class InputTranscriptionDelta(_ServerEvent):
    type: Literal["conversation.item.input_audio_transcription.delta"] = (
        "conversation.item.input_audio_transcription.delta"
    )
    item_id: str
    content_index: int = 0
    delta: str = ""  # the SDK makes it optional


class InputTranscriptionCompleted(_ServerEvent):
    type: Literal["conversation.item.input_audio_transcription.completed"] = (
        "conversation.item.input_audio_transcription.completed"
    )
    item_id: str
    content_index: int = 0
    transcript: str
    usage: Any = None


class InputTranscriptionFailed(_ServerEvent):
    type: Literal["conversation.item.input_audio_transcription.failed"] = (
        "conversation.item.input_audio_transcription.failed"
    )
    item_id: str
    content_index: int = 0
    error: ErrorDetail


class ResponseCreated(_ServerEvent):
    type: Literal["response.created"] = "response.created"
    response: Response


class ResponseDone(_ServerEvent):
    type: Literal["response.done"] = "response.done"
    response: Response


class OutputItemAdded(_ServerEvent):
    type: Literal["response.output_item.added"] = "response.output_item.added"
    response_id: str
    output_index: int = 0
    item: Item


class OutputItemDone(_ServerEvent):
    type: Literal["response.output_item.done"] = "response.output_item.done"
    response_id: str
    output_index: int = 0
    item: Item


class ContentPartAdded(_ServerEvent):
    type: Literal["response.content_part.added"] = "response.content_part.added"
    response_id: str
    item_id: str
    output_index: int = 0
    content_index: int = 0
    part: ContentPart


class ContentPartDone(_ServerEvent):
    type: Literal["response.content_part.done"] = "response.content_part.done"
    response_id: str
    item_id: str
    output_index: int = 0
    content_index: int = 0
    part: ContentPart


class _ResponseContent(_ServerEvent):
    response_id: str
    item_id: str
    output_index: int = 0
    content_index: int = 0


class AudioTranscriptDelta(_ResponseContent):
    type: Literal["response.output_audio_transcript.delta"] = (
        "response.output_audio_transcript.delta"
    )
    delta: str


class AudioTranscriptDone(_ResponseContent):
    type: Literal["response.output_audio_transcript.done"] = "response.output_audio_transcript.done"
    transcript: str


class TextDelta(_ResponseContent):
    type: Literal["response.output_text.delta"] = "response.output_text.delta"
    delta: str


class TextDone(_ResponseContent):
    type: Literal["response.output_text.done"] = "response.output_text.done"
    text: str


class FunctionArgumentsDelta(_ServerEvent):
    type: Literal["response.function_call_arguments.delta"] = (
        "response.function_call_arguments.delta"
    )
    response_id: str
    item_id: str
    output_index: int = 0
    call_id: str
    delta: str


class FunctionArgumentsDone(_ServerEvent):
    type: Literal["response.function_call_arguments.done"] = "response.function_call_arguments.done"
    response_id: str
    item_id: str
    output_index: int = 0
    call_id: str
    name: str | None = None
    arguments: str


class RateLimitsUpdated(_ServerEvent):
    type: Literal["rate_limits.updated"] = "rate_limits.updated"
    rate_limits: list[dict[str, Any]] = Field(default_factory=list)


class OutputAudioStarted(_ServerEvent):
    type: Literal["output_audio_buffer.started"] = "output_audio_buffer.started"
    response_id: str


class OutputAudioStopped(_ServerEvent):
    type: Literal["output_audio_buffer.stopped"] = "output_audio_buffer.stopped"
    response_id: str


class OutputAudioCleared(_ServerEvent):
    type: Literal["output_audio_buffer.cleared"] = "output_audio_buffer.cleared"
    response_id: str | None = None


class UnknownEvent(_Model):
    """Any event whose type we do not model; kept whole so nothing is lost."""

    type: str
    event_id: str | None = None


KnownServerEvent = Annotated[
    SessionCreated
    | SessionUpdated
    | ErrorEvent
    | SpeechStarted
    | SpeechStopped
    | InputCommitted
    | InputCleared
    | ItemAdded
    | ItemDone
    | ItemTruncated
    | ItemDeleted
    | ItemRetrieved
    | InputTimeoutTriggered
    | InputTranscriptionDelta
    | InputTranscriptionCompleted
    | InputTranscriptionFailed
    | ResponseCreated
    | ResponseDone
    | OutputItemAdded
    | OutputItemDone
    | ContentPartAdded
    | ContentPartDone
    | AudioTranscriptDelta
    | AudioTranscriptDone
    | TextDelta
    | TextDone
    | FunctionArgumentsDelta
    | FunctionArgumentsDone
    | RateLimitsUpdated
    | OutputAudioStarted
    | OutputAudioStopped
    | OutputAudioCleared,
    Field(discriminator="type"),
]
ServerEvent = KnownServerEvent | UnknownEvent


# --------------------------------------------------------------------------- client events


def new_event_id() -> str:
    """A client event's id (``evt_…``): a server ``error`` about the event quotes it."""
    return new_id("evt")


class _ClientEvent(_Model):
    event_id: str = Field(default_factory=new_event_id)


class SessionUpdate(_ClientEvent):
    type: Literal["session.update"] = "session.update"
    session: Session


class ItemCreate(_ClientEvent):
    type: Literal["conversation.item.create"] = "conversation.item.create"
    previous_item_id: str | None = None
    item: Item


class ItemTruncate(_ClientEvent):
    type: Literal["conversation.item.truncate"] = "conversation.item.truncate"
    item_id: str
    content_index: int = 0
    audio_end_ms: int


class ItemDelete(_ClientEvent):
    type: Literal["conversation.item.delete"] = "conversation.item.delete"
    item_id: str


class ItemRetrieve(_ClientEvent):
    type: Literal["conversation.item.retrieve"] = "conversation.item.retrieve"
    item_id: str


class ResponseCreate(_ClientEvent):
    type: Literal["response.create"] = "response.create"
    response: dict[str, Any] | None = None


class ResponseCancel(_ClientEvent):
    type: Literal["response.cancel"] = "response.cancel"
    response_id: str | None = None


class InputCommit(_ClientEvent):
    type: Literal["input_audio_buffer.commit"] = "input_audio_buffer.commit"


class InputClear(_ClientEvent):
    type: Literal["input_audio_buffer.clear"] = "input_audio_buffer.clear"


class OutputAudioClear(_ClientEvent):
    type: Literal["output_audio_buffer.clear"] = "output_audio_buffer.clear"


KnownClientEvent = Annotated[
    SessionUpdate
    | ItemCreate
    | ItemTruncate
    | ItemDelete
    | ItemRetrieve
    | ResponseCreate
    | ResponseCancel
    | InputCommit
    | InputClear
    | OutputAudioClear,
    Field(discriminator="type"),
]
ClientEvent = KnownClientEvent | UnknownEvent

_SERVER: TypeAdapter[KnownServerEvent] = TypeAdapter(KnownServerEvent)
_CLIENT: TypeAdapter[KnownClientEvent] = TypeAdapter(KnownClientEvent)


def _types(union: Any) -> frozenset[str]:
    members = get_args(get_args(union)[0])
    return frozenset(m.model_fields["type"].default for m in members)


_SERVER_TYPES = _types(KnownServerEvent)
_CLIENT_TYPES = _types(KnownClientEvent)


def _load(message: str | bytes | dict[str, Any]) -> dict[str, Any]:
    if isinstance(message, dict):
        data: Any = message
    else:
        try:
            data = json.loads(message)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ProtocolError(f"malformed event: not JSON ({exc})") from exc
        except RecursionError as exc:
            raise ProtocolError("malformed event: nested too deeply") from exc
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise ProtocolError("malformed event: not an object with a string 'type'")
    return data


def _validate(adapter: TypeAdapter[Any], data: dict[str, Any]) -> Any:
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:]) or "event"
        raise ProtocolError(f"malformed {data['type']} event: {where}: {first['msg']}") from exc


def _unknown(data: dict[str, Any]) -> UnknownEvent:
    try:
        return UnknownEvent.model_validate(data)
    except ValidationError:  # e.g. an event_id that is not a string: keep the type only
        return UnknownEvent(type=data["type"])


def parse_server_event(message: str | bytes | dict[str, Any]) -> ServerEvent:
    """Parse one server → client message. Unknown types pass through as :class:`UnknownEvent`."""
    data = _load(message)
    data["type"] = BETA_ALIASES.get(data["type"], data["type"])
    if data["type"] not in _SERVER_TYPES:
        return _unknown(data)
    event: ServerEvent = _validate(_SERVER, data)
    return event


def parse_client_event(message: str | bytes | dict[str, Any]) -> ClientEvent:
    """Parse one client → server message (used by the local peer)."""
    data = _load(message)
    if data["type"] not in _CLIENT_TYPES:
        return _unknown(data)
    if data["type"] == "session.update" and isinstance(data.get("session"), dict):
        try:
            session = session_from_beta(data["session"])
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(["session", *(str(p) for p in first["loc"])])
            raise ProtocolError(f"malformed session.update event: {where}: {first['msg']}") from exc
        except (ValueError, TypeError) as exc:  # a beta field of the wrong type
            raise ProtocolError(f"malformed session.update event: session: {exc}") from exc
        data["session"] = session.model_dump(exclude_unset=True)
    event: ClientEvent = _validate(_CLIENT, data)
    return event


#: GA content part types whose beta names differ.
BETA_CONTENT = {"output_text": "text", "output_audio": "audio"}


def encode_unchecked(event: BaseModel, *, dialect: Dialect = "ga") -> bytes:
    """An event as the data channel carries it (UTF-8), whatever its size."""
    data = event.model_dump(mode="json", exclude_none=True)
    if dialect == "beta":
        data["type"] = GA_TO_BETA.get(data["type"], data["type"])
        if isinstance(event, SessionUpdate | SessionCreated | SessionUpdated):
            data["session"] = session_to_beta(event.session)
        for part in data.get("item", {}).get("content") or []:
            # Beta named an assistant's content "text"/"audio" (GA: output_text/output_audio).
            part["type"] = BETA_CONTENT.get(part.get("type"), part.get("type"))
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def encode(event: BaseModel, *, dialect: Dialect = "ga") -> str:
    """Serialize an event for the data channel; refuse one over :data:`MAX_MESSAGE_BYTES`."""
    raw = encode_unchecked(event, dialect=dialect)
    text, size = raw.decode(), len(raw)
    if size > MAX_MESSAGE_BYTES:
        raise ProtocolError(
            f"{json.loads(text)['type']} event is {size} bytes; the data channel takes at most "
            f"{MAX_MESSAGE_BYTES} bytes per message"
        )
    return text


# --------------------------------------------------------------------------- errors and requests


class SentEvents:
    """The types of the last client events sent, by ``event_id``: which request an error names.

    ``remember(event)`` each client event as it is sent; ``cause(error)`` is then e.g.
    ``"response.create"`` for an ``error`` whose ``event_id`` is that request's (None: the
    error names no event, or one too old to remember).
    """

    def __init__(self, size: int = 256) -> None:
        self._types: OrderedDict[str, str] = OrderedDict()
        self._size = size

    def remember(self, event: BaseModel) -> None:
        event_id, kind = getattr(event, "event_id", None), getattr(event, "type", None)
        if isinstance(event_id, str) and isinstance(kind, str):
            self._types[event_id] = kind
            while len(self._types) > self._size:
                self._types.popitem(last=False)

    def cause(self, error: ErrorDetail) -> str | None:
        return self._types.get(error.event_id) if error.event_id else None


_NUMBERS = re.compile(r"\d+(\.\d+)?")


def error_kind(error: ErrorDetail) -> str:
    """What an error is, whatever numbers it quotes: the key to say each kind once.

    ``"Audio content of 1200 ms is already shorter than 1500 ms"`` and the same message with
    other numbers are one kind.
    """
    return f"{error.type}/{error.code or ''}/{_NUMBERS.sub('#', error.message)}"


# --------------------------------------------------------------------------- tool outputs

#: Room left in a message for what the sender adds around the item (previous_item_id).
_ITEM_CREATE_SLACK = 256


def fit_function_output(item: Item, *, limit: int = MAX_MESSAGE_BYTES) -> Item:
    """``item`` (a ``function_call_output``), its output shortened so that the
    ``conversation.item.create`` carrying it fits ``limit`` bytes, with room to spare.

    A shortened output says so: text ends in ``… [truncated: N bytes]`` (N bytes left out);
    JSON stays JSON: ``{"truncated": true, "omitted_bytes": N, "partial": "<the start>"}``.
    An output that fits is returned unchanged (the same object).
    """
    output = item.output or ""
    budget = limit - _ITEM_CREATE_SLACK

    def size(text: str) -> int:
        return len(encode_unchecked(ItemCreate(item=item.model_copy(update={"output": text}))))

    if size(output) <= budget:
        return item
    try:
        json.loads(output)
        is_json = True
    except ValueError:
        is_json = False
    total = len(output.encode())

    def shortened(keep: int) -> str:
        omitted = total - len(output[:keep].encode())
        if is_json:
            wrapper = {"truncated": True, "omitted_bytes": omitted, "partial": output[:keep]}
            return json.dumps(wrapper, ensure_ascii=False)
        return f"{output[:keep]}… [truncated: {omitted} bytes]"

    low, high = 0, len(output)  # the longest prefix that fits: low fits, high does not
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if size(shortened(mid)) <= budget else (low, mid)
    return item.model_copy(update={"output": shortened(low)})
