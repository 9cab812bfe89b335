"""Who writes the peer's replies: the :class:`Responder` interface and two implementations.

* :class:`BuiltinResponder` (default): deterministic and offline. It repeats what it
  understood of the last user turn and says how that relates to earlier turns, in one or two
  short sentences. Tests rely on the exact shape: ``"You said: <text>."`` followed by
  ``"That is the first thing you said."`` or ``"Before that you said: <previous>."``.
  With no user words: ``"Sorry, I did not catch that."``. Instructions that ask for the text
  to be read word for word (or verbatim) make it say the last user text as it is, as a real
  model does when used as a text-to-speech voice (vivavoce's text mode does so).
* :class:`ChatResponder`: forwards the conversation to an OpenAI-compatible
  ``/chat/completions`` URL (streamed) with httpx and yields the text as it arrives.

A responder yields text chunks; the session cuts them into sentences for speech. Before
writing, the session asks :meth:`Responder.call_tool` whether the reply is a function call
instead (only when the client declared tools): the built-in responder understands a few fixed
phrasings (:mod:`.intents`) and, once the tool's output is back, says what came of it. The chat
responder does not call tools.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from . import intents

if TYPE_CHECKING:
    from .items import Message, ToolCall

log = logging.getLogger(__name__)

#: Instructions that ask for the user's text to be read aloud as it is.
_READ_ALOUD = re.compile(r"\bword for word\b|\bverbatim\b", re.IGNORECASE)


class Responder(Protocol):
    """Writes the assistant's next turn from the conversation so far."""

    def reply(self, conversation: Sequence[Message], instructions: str) -> AsyncIterator[str]:
        """Text chunks of the reply, in order (an async generator)."""
        ...

    async def call_tool(
        self, conversation: Sequence[Message], tools: Sequence[str]
    ) -> ToolCall | None:
        """The function to call instead of replying (``tools``: the declared names), or None."""
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

    async def call_tool(
        self, conversation: Sequence[Message], tools: Sequence[str]
    ) -> ToolCall | None:
        last = conversation[-1] if conversation else None
        if last is None or last.role != "user" or not tools:
            return None
        return intents.plan(last.text, tools)

    async def reply(self, conversation: Sequence[Message], instructions: str) -> AsyncIterator[str]:
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


class ChatResponder:
    """Streams replies from an OpenAI-compatible chat completions endpoint."""

    def __init__(
        self,
        url: str,
        *,
        model: str = "gpt-4o-mini",
        api_key: str | None = None,
        timeout: float = 60.0,
    ) -> None:
        import httpx

        self.url = chat_completions_url(url)
        self.model = model
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(headers=headers, timeout=timeout)

    async def reply(self, conversation: Sequence[Message], instructions: str) -> AsyncIterator[str]:
        import httpx

        messages: list[dict[str, str]] = []
        if instructions:
            messages.append({"role": "system", "content": instructions})
        messages += [
            {"role": m.role, "content": m.text}
            for m in conversation
            if m.role in ("user", "assistant") and m.text
        ]
        body: dict[str, Any] = {"model": self.model, "messages": messages, "stream": True}
        try:
            async with self._client.stream("POST", self.url, json=body) as resp:
                if resp.status_code >= 400:
                    detail = (await resp.aread()).decode(errors="replace")[:300]
                    raise ResponderError(f"responder returned HTTP {resp.status_code}: {detail}")
                async for line in resp.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    chunk = json.loads(data)
                    for choice in chunk.get("choices") or []:
                        delta = (choice.get("delta") or {}).get("content")
                        if delta:
                            yield str(delta)
        except httpx.HTTPError as exc:
            raise ResponderError(f"responder request failed: {exc}") from exc

    async def call_tool(
        self, conversation: Sequence[Message], tools: Sequence[str]
    ) -> ToolCall | None:
        return None  # the forwarded model only writes text

    async def aclose(self) -> None:
        await self._client.aclose()
