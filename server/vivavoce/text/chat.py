"""Text mode: chat completions, streamed.

:class:`Chat` sends the conversation to ``POST {base_url}/chat/completions`` with
``stream: true`` and yields the reply's text as it arrives (server-sent events), then the
function calls the model made, if it was given ``tools`` (:class:`ToolCallRequest`, assembled
from the streamed ``tool_calls`` deltas). Errors are the same typed errors as the realtime
signaling, with the server's own message.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import httpx
from pydantic import BaseModel

from ..errors import ProtocolError, StepTimeout
from ..realtime.signaling import error_from_response

STEP = "asking for a text reply"

#: A function declared to a model: name, description, JSON schema of its parameters (the
#: voice tools of :mod:`vivavoce.tools`, in both modes).
ToolSpec = tuple[str, str, dict[str, Any]]


class UsageCallback(Protocol):
    """Told the usage a server reported: what it was for (a chat completion, a transcription,
    a realtime reply read aloud), the model, the ``usage`` object as the server sent it, and
    the transcript line it is for when known (a chat completion's reply)."""

    def __call__(
        self,
        kind: Literal["chat", "transcription", "response"],
        model: str,
        usage: Any,
        item_id: str | None = None,
    ) -> None: ...


class Message(BaseModel):
    role: Literal["system", "user", "assistant", "tool"]
    content: str | None
    #: An assistant's function calls (chat completions' own shape).
    tool_calls: list[dict[str, Any]] | None = None
    #: A tool message: which call it answers.
    tool_call_id: str | None = None


@dataclass(frozen=True)
class ToolCallRequest:
    """A function the model called: its call id, name and JSON arguments."""

    id: str
    name: str
    arguments: str

    def message_part(self) -> dict[str, Any]:
        """This call as an assistant message's ``tool_calls`` entry."""
        function = {"name": self.name, "arguments": self.arguments}
        return {"id": self.id, "type": "function", "function": function}


class Chat:
    """Streamed chat completions against one server."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        api_key: str,
        timeout: float = 30.0,
        on_usage: UsageCallback | None = None,
    ) -> None:
        self._http = http
        self._on_usage = on_usage
        self._url = f"{base_url.rstrip('/')}/chat/completions"
        self._api_key = api_key
        self._timeout = timeout

    async def stream(
        self,
        model: str,
        messages: list[Message],
        tools: Sequence[ToolSpec] = (),
        *,
        item_id: str | None = None,
    ) -> AsyncIterator[str | ToolCallRequest]:
        """The reply's text, chunk by chunk; then the calls of ``tools`` the model made.
        ``item_id``: the reply's transcript line (its usage is recorded against it)."""
        body: dict[str, Any] = {
            "model": model,
            "stream": True,
            "messages": [m.model_dump(exclude_none=True) for m in messages],
            # The last chunk carries the reply's usage (what it cost).
            "stream_options": {"include_usage": True},
        }
        if tools:
            body["tools"] = [
                {"type": "function", "function": {"name": n, "description": d, "parameters": p}}
                for n, d, p in tools
            ]
        calls: dict[int, dict[str, str]] = {}
        headers = {"Authorization": f"Bearer {self._api_key}"}
        try:
            async with self._http.stream(
                "POST", self._url, json=body, headers=headers, timeout=self._timeout
            ) as response:
                if not response.is_success:
                    await response.aread()
                    raise error_from_response(response, STEP)
                async for line in response.aiter_lines():
                    usage = _usage(line)
                    if usage is not None and self._on_usage is not None:
                        self._on_usage("chat", model, usage, item_id)
                    delta = _delta(line)
                    if delta is None:
                        break
                    if delta.get("content"):
                        yield str(delta["content"])
                    _gather_calls(calls, delta.get("tool_calls"))
        except httpx.TimeoutException as exc:
            raise StepTimeout(STEP, self._timeout) from exc
        except httpx.HTTPError as exc:
            raise ProtocolError(f"the text reply broke off: {type(exc).__name__}") from exc
        for _, call in sorted(calls.items()):
            if call["name"]:
                yield ToolCallRequest(call["id"], call["name"], call["arguments"])


def _delta(line: str) -> dict[str, Any] | None:
    """The choice's delta in one SSE line ({} for other lines); None at ``[DONE]``."""
    if not line.startswith("data:"):
        return {}
    data = line[5:].strip()
    if data == "[DONE]":
        return None
    try:
        delta = json.loads(data)["choices"][0]["delta"]
    except (ValueError, KeyError, IndexError, TypeError):
        return {}
    return delta if isinstance(delta, dict) else {}


def _usage(line: str) -> dict[str, Any] | None:
    """The ``usage`` of a chunk (the last one, with ``include_usage``), else None."""
    if not line.startswith("data:") or '"usage"' not in line:
        return None
    try:
        usage = json.loads(line[5:].strip()).get("usage")
    except (ValueError, AttributeError):
        return None
    return usage if isinstance(usage, dict) else None


def _gather_calls(calls: dict[int, dict[str, str]], parts: Any) -> None:
    """Fold streamed ``tool_calls`` pieces (by index: id and name once, arguments in bits)."""
    for part in parts if isinstance(parts, list) else []:
        if not isinstance(part, dict) or not isinstance(part.get("index", 0), int):
            continue
        call = calls.setdefault(part.get("index", 0), {"id": "", "name": "", "arguments": ""})
        function = part.get("function")
        function = function if isinstance(function, dict) else {}
        call["id"] = str(part.get("id") or call["id"])
        call["name"] = str(function.get("name") or call["name"])
        call["arguments"] += str(function.get("arguments") or "")
