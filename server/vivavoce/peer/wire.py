"""The peer session's plumbing: client events in, server events out, and what its parts share.

* :func:`parse_client_message` turns one message into a client event, or raises
  :class:`ClientEventError` (which the session answers with an ``error`` event).
* :func:`encode_server_event` writes a server event in the call's dialect: beta has no
  ``conversation.item.done`` and names assistant content parts ``audio``/``text``. Keys the
  official clients' schemas require are written even when null: ``previous_item_id`` of an
  added/done/committed item, and ``transcript`` of a user's ``input_audio`` part.
* :class:`OutputAudioDone`, :class:`OutputAudioDelta` and :class:`InputAppend` model events the
  shared events module has no model for (the last two travel over the WebSocket transport).
* :class:`SessionLink` is what the parts of a session (its input audio, its responses) use of
  the session: its items, its settings as they are now, sending events, starting tasks.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from ..errors import ProtocolError
from ..realtime import events as ev
from . import conformance
from .items import ConversationItems

log = logging.getLogger(__name__)

_PARAM = re.compile(r"^malformed \S+ event: ([^:]+): ")
_NOT_JSON = object()

Spawn = Callable[[Coroutine[Any, Any, None], str], asyncio.Task[None]]


@dataclass(frozen=True)
class SessionLink:
    """What a part of a session uses of it (see the module docstring)."""

    name: str  # the call's id, for logs
    items: ConversationItems
    settings: Callable[[], ev.Session]  # read at use: session.update replaces the session
    send: Callable[[BaseModel], None]
    spawn: Spawn  # a task the session cancels when it closes


class ClientEventError(Exception):
    """A client event that cannot be honoured; becomes an ``error`` event."""

    def __init__(self, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.param = code, message, param


class OutputAudioDone(BaseModel):
    """``response.output_audio.done`` (the lead's events module has no model for it)."""

    event_id: str = ""
    type: Literal["response.output_audio.done"] = "response.output_audio.done"
    response_id: str
    item_id: str
    output_index: int = 0
    content_index: int = 0


class OutputAudioDelta(BaseModel):
    """``response.output_audio.delta``: a base64 chunk of the assistant's speech (WebSocket)."""

    event_id: str = ""
    type: Literal["response.output_audio.delta"] = "response.output_audio.delta"
    response_id: str
    item_id: str
    output_index: int = 0
    content_index: int = 0
    delta: str


class InputAppend(BaseModel):
    """``input_audio_buffer.append``: base64 audio from the client (WebSocket)."""

    event_id: str | None = None
    type: Literal["input_audio_buffer.append"] = "input_audio_buffer.append"
    audio: str


INPUT_APPEND = "input_audio_buffer.append"


def load_json(message: str | bytes) -> Any:
    """The decoded message, or a marker :func:`parse_client_message` refuses as not JSON."""
    try:
        return json.loads(message)
    except (ValueError, UnicodeDecodeError, RecursionError):  # deep nesting: not an event
        return _NOT_JSON


def parse_client_message(raw: Any, dialect: ev.Dialect = "ga") -> ev.ClientEvent | InputAppend:
    """A client event from a decoded message; :class:`ClientEventError` when it is not one."""
    conformance.record_client(raw, dialect)
    if raw is _NOT_JSON:
        raise ClientEventError("invalid_json", "The event is not valid JSON.")
    if not isinstance(raw, dict):
        raise ClientEventError("invalid_value", "An event must be a JSON object.")
    if raw.get("type") == INPUT_APPEND:
        return _input_append(raw)
    try:
        # parse_client_event rewrites its argument; give it a copy.
        return ev.parse_client_event(json.loads(json.dumps(raw)))
    except ProtocolError as exc:
        m = _PARAM.match(str(exc))
        raise ClientEventError("invalid_value", str(exc), m.group(1) if m else None) from exc


def _input_append(raw: dict[str, Any]) -> InputAppend:
    try:
        return InputAppend.model_validate(raw, strict=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "event"
        raise ClientEventError(
            "invalid_value", f"malformed {INPUT_APPEND} event: {where}: {first['msg']}", where
        ) from None


def encode_server_event(event: BaseModel, dialect: ev.Dialect, call: str) -> str | None:
    """The message to send for ``event`` (None: the dialect has no such event).

    An event too large for the channel becomes an ``error`` event instead.
    """
    if dialect == "beta":
        if isinstance(event, ev.ItemDone):
            return None  # beta had no conversation.item.done
        event = _to_beta_content(event)
    if isinstance(event, OutputAudioDone | OutputAudioDelta) and not event.event_id:
        event.event_id = ev.new_id("event")
    try:
        text = ev.encode(event, dialect=dialect)
    except ProtocolError as exc:
        log.warning("%s: cannot send %s: %s", call, getattr(event, "type", "?"), exc)
        text = ev.encode(ev.ErrorEvent(error=ev.ErrorDetail(type="server_error", message=str(exc))))
    if isinstance(event, _KEEP_NULLS):
        text = _with_required_nulls(text)
    conformance.record_server(text, dialect)
    return text


_KEEP_NULLS = (ev.ItemAdded, ev.ItemDone, ev.ItemRetrieved, ev.InputCommitted)


def _with_required_nulls(text: str) -> str:
    """``encode`` drops None; put back the nulls clients' schemas require (module docstring)."""
    data = json.loads(text)
    if data["type"] != "conversation.item.retrieved":
        data.setdefault("previous_item_id", None)
    item = data.get("item")
    if isinstance(item, dict):
        for part in item.get("content") or []:
            if isinstance(part, dict) and part.get("type") == "input_audio":
                part.setdefault("transcript", None)
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def _to_beta_content(event: BaseModel) -> BaseModel:
    """Assistant content parts are ``audio``/``text`` in the beta shape; no ``name`` in
    ``response.function_call_arguments.done``."""
    rename = {"output_audio": "audio", "output_text": "text"}

    def fix(item: ev.Item) -> ev.Item:
        if not item.content or not any(p.type in rename for p in item.content):
            return item
        copy = item.model_copy(deep=True)
        for part in copy.content or []:
            part.type = rename.get(part.type, part.type)
        return copy

    if isinstance(event, ev.ItemAdded | ev.OutputItemAdded | ev.OutputItemDone):
        return event.model_copy(update={"item": fix(event.item)})
    if isinstance(event, ev.FunctionArgumentsDone):
        return event.model_copy(update={"name": None})  # not in beta's event
    if isinstance(event, ev.ResponseDone):
        update: dict[str, Any] = {"output": [fix(i) for i in event.response.output]}
        if isinstance(event.response.usage, dict):
            update["usage"] = _beta_usage(event.response.usage)
        resp = event.response.model_copy(update=update)
        return event.model_copy(update={"response": resp})
    return event


def _beta_usage(usage: dict[str, Any]) -> dict[str, Any]:
    """Beta's usage has no image tokens and no per-kind split of the cached tokens."""
    inputs = usage.get("input_token_details")
    if not isinstance(inputs, dict):
        return usage
    kept = {
        k: v for k, v in inputs.items() if k in ("text_tokens", "audio_tokens", "cached_tokens")
    }
    return {**usage, "input_token_details": kept}
