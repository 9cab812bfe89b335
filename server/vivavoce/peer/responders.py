"""Who writes the peer's replies: the :class:`Responder` interface and two implementations.

* :class:`BuiltinResponder` (default): deterministic and offline. It repeats what it
  understood of the last user turn and says how that relates to earlier turns, in one or two
  short sentences. Tests rely on the exact shape: ``"You said: <text>."`` followed by
  ``"That is the first thing you said."`` or ``"Before that you said: <previous>."``.
  With no user words: ``"Sorry, I did not catch that."``. Instructions that ask for the text
  to be read word for word (or verbatim) make it say the last user text as it is, as a real
  model does when used as a text-to-speech voice (vivavoce's text mode does so).
* :class:`ChatResponder`: forwards the conversation to an OpenAI-compatible
  ``/chat/completions`` URL (streamed) with httpx and yields the text as it arrives; the
  session's tools go with it, so a model that calls functions can use the voice tools.

A responder's :meth:`Responder.answer` is either a function call (only when the client declared
tools) or the reply's text chunks, which the session cuts into sentences for speech: the
built-in responder understands a few fixed phrasings (:mod:`.intents`) and, once the tool's
output is back, says what came of it; the chat responder lets its model decide, in one request.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from . import intents
from .items import ToolCall
from .upstreams import TIMEOUT, Upstream, UpstreamError, chat_tools, check_status, problem_of

if TYPE_CHECKING:
    import httpx

    from .items import Message

log = logging.getLogger(__name__)

#: Instructions that ask for the user's text to be read aloud as it is.
_READ_ALOUD = re.compile(r"\bword for word\b|\bverbatim\b", re.IGNORECASE)


class Responder(Protocol):
    """Writes the assistant's next turn from the conversation so far."""

    async def answer(
        self,
        conversation: Sequence[Message],
        instructions: str,
        tools: Sequence[str] = (),
        specs: Sequence[dict[str, Any]] = (),
    ) -> ToolCall | AsyncIterator[str]:
        """The function to call instead of replying (only among ``tools``, the declared names;
        ``specs``: the declared functions as the session has them), or the reply's text
        chunks, in order (an async generator: its errors come as it is read)."""
        ...

    async def aclose(self) -> None:
        """Release connections (idempotent)."""
        ...


class ResponderError(RuntimeError):
    """The responder could not produce a reply."""


def _clean(text: str) -> str:
    return " ".join(text.split()).rstrip(" .!?")


class BuiltinResponder:
    """Deterministic replies from what was understood; sees earlier turns."""

    async def answer(
        self,
        conversation: Sequence[Message],
        instructions: str,
        tools: Sequence[str] = (),
        specs: Sequence[dict[str, Any]] = (),
    ) -> ToolCall | AsyncIterator[str]:
        last = conversation[-1] if conversation else None
        if last is not None and last.role == "user" and tools:
            call = intents.plan(last.text, tools)
            if call is not None:
                return call
        return self._reply(conversation, instructions)

    async def _reply(
        self, conversation: Sequence[Message], instructions: str
    ) -> AsyncIterator[str]:
        last = conversation[-1] if conversation else None
        if last is not None and last.role == "tool":
            yield intents.describe(last.name, last.text)
            return
        users = [m.text for m in conversation if m.role == "user" and _clean(m.text)]
        if users and _READ_ALOUD.search(instructions):
            yield users[-1].strip()
            return
        if not users:
            yield "Sorry, I did not catch that."
            return
        markdown = intents.markdown_reply(users[-1])
        if markdown is not None and last is not None and last.role == "user":
            # Code asked for, and no tool called: written as markdown, as a chat model does.
            for line in markdown.splitlines(keepends=True):
                yield line
            return
        yield f"You said: {_clean(users[-1])}. "
        if len(users) == 1:
            yield "That is the first thing you said."
        else:
            yield f"Before that you said: {_clean(users[-2])}."

    async def aclose(self) -> None:
        return None


def chat_completions_url(url: str) -> str:
    """Accept a base URL (``…/v1``) or the full ``…/chat/completions`` URL."""
    url = url.rstrip("/")
    return url if url.endswith("/chat/completions") else url + "/chat/completions"


def chat_messages(conversation: Sequence[Message], instructions: str) -> list[dict[str, Any]]:
    """The conversation as chat completions messages (function calls and outputs included)."""
    messages: list[dict[str, Any]] = []
    if instructions:
        messages.append({"role": "system", "content": instructions})
    for m in conversation:
        if m.call is not None:
            call = {"name": m.call.name, "arguments": m.call.arguments or "{}"}
            messages.append(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"id": m.call.call_id, "type": "function", "function": call}],
                }
            )
        elif m.role == "tool":
            messages.append({"role": "tool", "tool_call_id": m.call_id, "content": m.text})
        elif m.role in ("user", "assistant") and m.text:
            messages.append({"role": m.role, "content": m.text})
    return messages


#: What one streamed chat answer gives: a piece of text, or the function it calls instead.
_Piece = str | ToolCall


class ChatResponder:
    """Streams replies from an OpenAI-compatible chat completions endpoint (Ollama, llama.cpp
    server, a second peer…), with the session's tools passed through.

    With tools declared, :meth:`answer` reads the stream until it shows what it is: a function
    call is returned whole; text goes on streaming from the same request.
    """

    def __init__(
        self,
        url: str,
        *,
        model: str = "gpt-4o-mini",
        api_key: str | None = None,
        timeout: float = TIMEOUT,
    ) -> None:
        self.upstream = Upstream(chat_completions_url(url), model, api_key, timeout)
        self.url = self.upstream.url
        self.model = model
        self._client = self.upstream.client()

    async def _pieces(
        self, conversation: Sequence[Message], instructions: str, specs: Sequence[dict[str, Any]]
    ) -> AsyncGenerator[_Piece, None]:
        import httpx

        body: dict[str, Any] = {
            "model": self.model,
            "messages": chat_messages(conversation, instructions),
            "stream": True,
        }
        if specs:
            body["tools"] = chat_tools(list(specs))
        calls: dict[int, dict[str, str]] = {}
        try:
            async with self._client.stream("POST", self.url, json=body) as resp:
                await check_status("reply", self.url, resp)
                kind = resp.headers.get("content-type", "")
                if "event-stream" not in kind:
                    raise await not_a_stream(self.url, resp)
                async for line in resp.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    try:
                        chunk = json.loads(data)
                    except ValueError:
                        raise UpstreamError(
                            "reply", self.url, f"streamed something not JSON: {data[:80]}"
                        ) from None
                    for choice in chunk.get("choices") or [] if isinstance(chunk, dict) else []:
                        delta = choice.get("delta") or {}
                        if delta.get("content"):
                            yield str(delta["content"])
                        for call in delta.get("tool_calls") or []:
                            into = calls.setdefault(int(call.get("index", 0)), {})
                            into["id"] = call.get("id") or into.get("id", "")
                            function = call.get("function") or {}
                            into["name"] = function.get("name") or into.get("name", "")
                            into["arguments"] = into.get("arguments", "") + (
                                function.get("arguments") or ""
                            )
        except UpstreamError:
            raise
        except httpx.HTTPError as exc:
            raise UpstreamError("reply", self.url, problem_of(exc, self.upstream.timeout)) from exc
        for _, call in sorted(calls.items())[:1]:  # one function call per response
            yield ToolCall(call["name"], call["arguments"] or "{}", call["id"])

    async def answer(
        self,
        conversation: Sequence[Message],
        instructions: str,
        tools: Sequence[str] = (),
        specs: Sequence[dict[str, Any]] = (),
    ) -> ToolCall | AsyncIterator[str]:
        if not (tools and specs):  # nothing to pass through: the model only writes text
            return _text(self._pieces(conversation, instructions, ()))
        pieces = self._pieces(conversation, instructions, specs)
        first = await anext(pieces, None)
        if isinstance(first, ToolCall):
            await pieces.aclose()
            return first
        return _text(pieces, first)

    async def aclose(self) -> None:
        await self._client.aclose()


async def not_a_stream(url: str, response: httpx.Response) -> UpstreamError:
    kind = response.headers.get("content-type", "") or "no type"
    shown = " ".join((await response.aread())[:80].decode(errors="replace").split())
    return UpstreamError("reply", url, f"answered {kind}, not a stream: {shown}")


async def _text(
    pieces: AsyncGenerator[_Piece, None], first: _Piece | None = None
) -> AsyncGenerator[str, None]:
    """The text of a streamed answer (``first``: its piece already read, if any)."""
    async with contextlib.aclosing(pieces):
        if isinstance(first, str):
            yield first
        async for piece in pieces:
            if isinstance(piece, str):
                yield piece
