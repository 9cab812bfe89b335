"""Text mode: chat completions, streamed.

:class:`Chat` sends the conversation to ``POST {base_url}/chat/completions`` with
``stream: true`` and yields the reply's text as it arrives (server-sent events). Errors are the
same typed errors as the realtime signaling, with the server's own message.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, Literal

import httpx
from pydantic import BaseModel

from ..errors import ProtocolError, StepTimeout
from ..realtime.signaling import error_from_response

STEP = "asking for a text reply"


class Message(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class Chat:
    """Streamed chat completions against one server."""

    def __init__(
        self, http: httpx.AsyncClient, *, base_url: str, api_key: str, timeout: float = 30.0
    ) -> None:
        self._http = http
        self._url = f"{base_url.rstrip('/')}/chat/completions"
        self._api_key = api_key
        self._timeout = timeout

    async def stream(self, model: str, messages: list[Message]) -> AsyncIterator[str]:
        """The reply's text, chunk by chunk."""
        body: dict[str, Any] = {
            "model": model,
            "stream": True,
            "messages": [m.model_dump() for m in messages],
        }
        headers = {"Authorization": f"Bearer {self._api_key}"}
        try:
            async with self._http.stream(
                "POST", self._url, json=body, headers=headers, timeout=self._timeout
            ) as response:
                if not response.is_success:
                    await response.aread()
                    raise error_from_response(response, STEP)
                async for line in response.aiter_lines():
                    chunk = _delta(line)
                    if chunk is None:
                        break
                    if chunk:
                        yield chunk
        except httpx.TimeoutException as exc:
            raise StepTimeout(STEP, self._timeout) from exc
        except httpx.HTTPError as exc:
            raise ProtocolError(f"the text reply broke off: {type(exc).__name__}") from exc


def _delta(line: str) -> str | None:
    """The text in one SSE line; '' for lines without text; None at ``[DONE]``."""
    if not line.startswith("data:"):
        return ""
    data = line[5:].strip()
    if data == "[DONE]":
        return None
    try:
        event = json.loads(data)
        return str(event["choices"][0]["delta"].get("content") or "")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return ""
