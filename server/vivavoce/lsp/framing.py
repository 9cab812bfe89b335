"""JSON-RPC messages in, however they arrive: base-protocol frames on stdio, and one message
handed to pygls.

pygls' own stdio loop stays out of step for good after one bad frame: it reads headers line by
line and only takes a line that is exactly ``Content-Length: N``, so a body with no newline
glued to the next header (``{}Content-Length: 55``) hides every later message. It also logs a
traceback for a body that is not JSON. :class:`FrameReader` finds the next header wherever it
starts, skips a header block without a valid length (negative, not a number, over
:data:`MAX_MESSAGE_BYTES`) or over :data:`MAX_HEADER_BYTES`, and, when a body is not JSON
because its length was too long, reads again from the first header inside it.

:func:`handle` gives one message body to pygls: a body that is not JSON gets a ``-32700``
error, one that is not a JSON-RPC message ``-32600``; each is one line on stderr, never a
traceback. Both transports use it (stdio here, WebSocket in :mod:`vivavoce.web.ws`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, Literal

log = logging.getLogger(__name__)

#: Largest message body accepted (a didOpen of a large file fits).
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
#: Largest header block; more bytes without a blank line are skipped as garbage.
MAX_HEADER_BYTES = 64 * 1024
_LENGTH = re.compile(rb"Content-Length:[ \t]*([0-9]+)[ \t]*(?=\r\n|\Z)", re.IGNORECASE)
_HEADER_END = b"\r\n\r\n"


class FrameReader:
    """Bodies of base-protocol frames from ``read`` (``read(n)``: up to n bytes, b"" at EOF)."""

    def __init__(self, read: Callable[[int], Awaitable[bytes]]) -> None:
        self._read = read
        self._buffer = bytearray()

    async def _fill(self) -> bool:
        chunk = await self._read(65536)
        self._buffer += chunk
        return bool(chunk)

    async def next_body(self) -> bytes | None:
        """The next message body; None at the end of input."""
        while True:
            end = self._buffer.find(_HEADER_END)
            if end < 0:
                if len(self._buffer) > MAX_HEADER_BYTES:
                    log.warning("skipped %d bytes with no message header", len(self._buffer))
                    del self._buffer[: -len(_HEADER_END)]  # a header may start in the tail
                if not await self._fill():
                    return None
                continue
            header = bytes(self._buffer[:end])
            del self._buffer[: end + len(_HEADER_END)]
            length = _content_length(header)
            if length is None:
                continue
            while len(self._buffer) < length:
                if not await self._fill():
                    return None
            body = bytes(self._buffer[:length])
            del self._buffer[:length]
            return body

    def resync(self, body: bytes) -> None:
        """``body`` was not JSON: if a header starts inside it, read from there again (its
        Content-Length was too long and it swallowed the messages after it)."""
        start = body.find(b"Content-Length:")
        if start >= 0:
            self._buffer[:0] = body[start:]


def _content_length(header: bytes) -> int | None:
    """The ``Content-Length`` of a header block: its last one (what precedes it is garbage,
    e.g. a body sent without the blank line), if that one is valid."""
    header = header[-MAX_HEADER_BYTES:]
    last = header.lower().rfind(b"content-length:")
    found = _LENGTH.match(header, last) if last >= 0 else None
    if found is None:
        log.warning("skipped a message header with no valid Content-Length: %.80r", header)
        return None
    length = int(found.group(1))
    if length > MAX_MESSAGE_BYTES:
        log.warning("skipped a message of %d bytes (the limit is %d)", length, MAX_MESSAGE_BYTES)
        return None
    return length


Outcome = Literal["ok", "not json", "exit"]


def handle(
    protocol: Any,
    body: bytes | str,
    reply: Callable[[dict[str, Any]], None],
    *,
    keep_exit: bool = False,
) -> Outcome:
    """Give one message to pygls' ``protocol``; ``reply`` sends an error back for a message
    that is not one. ``"not json"``: the caller may resync; ``"exit"``: an ``exit``
    notification that ``keep_exit`` kept from pygls (which would end the process)."""
    try:
        raw = json.loads(body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        detail = " ".join(str(exc).split()) if isinstance(exc, ValueError) else "nested too deep"
        reply(_error(None, -32700, f"parse error: {detail}"))
        log.warning("a message that is not JSON: %s", detail)  # after: the log reaches the client
        return "not json"
    problem, code = _invalid(raw), -32600
    if problem is None:
        try:
            message = protocol.structure_message(raw)
        except Exception as exc:  # pygls could not structure it (wrong member types)
            problem = " ".join(str(exc).split()) or type(exc).__name__
            code = getattr(exc, "code", code)  # e.g. -32602 for params of the wrong shape
    if problem is not None:
        msg_id = raw.get("id") if isinstance(raw, dict) else None
        valid_id = isinstance(msg_id, str | int) and not isinstance(msg_id, bool)
        reply(_error(msg_id if valid_id else None, code, f"invalid request: {problem}"))
        log.warning("an invalid JSON-RPC message: %s", problem)
        return "ok"
    if keep_exit and raw.get("method") == "exit":
        return "exit"
    try:
        protocol.handle_message(message)
    except Exception as exc:
        log.warning("could not handle %s: %s", getattr(message, "method", "a message"), exc)
    return "ok"


def _invalid(raw: Any) -> str | None:
    """What makes ``raw`` no JSON-RPC 2.0 message pygls can take (None: nothing)."""
    if not isinstance(raw, dict) or raw.get("jsonrpc") != "2.0":
        return "not a JSON-RPC 2.0 object"
    if "method" in raw and not isinstance(raw["method"], str):
        return "method must be a string"
    msg_id = raw.get("id")
    if msg_id is not None and (isinstance(msg_id, bool) or not isinstance(msg_id, str | int)):
        return "id must be a string, a number or null"
    if "method" not in raw:
        if "id" not in raw:
            return "neither a request, a notification nor a response"
        error = raw.get("error")
        if "error" in raw and not (
            isinstance(error, dict)
            and isinstance(error.get("code"), int)
            and isinstance(error.get("message"), str)
        ):
            return "a response's error must be an object with a code and a message"
        if "error" not in raw and "result" not in raw:
            return "a response needs a result or an error"
    return None


class _QuietDeserializing(logging.Filter):
    """pygls logs a traceback when it cannot structure a message; :func:`handle` says it in
    one line (and answers the client), so that record is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Unable to deserialize message")


logging.getLogger("pygls.protocol.json_rpc").addFilter(_QuietDeserializing())


def _error(msg_id: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": message}}


def frame(message: dict[str, Any]) -> bytes:
    """``message`` as a base-protocol frame (UTF-8 body, its length in bytes)."""
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


async def serve(
    reader: FrameReader, protocol: Any, stop: Any, write: Callable[[bytes], Any]
) -> None:
    """Hand every frame from ``reader`` to ``protocol`` until the input ends or ``stop`` (a
    ``threading.Event``, set by ``exit``) is set; ``write`` sends a frame's bytes."""
    while not stop.is_set():
        body = await reader.next_body()
        if body is None:
            return
        if handle(protocol, body, lambda message: write(frame(message))) == "not json":
            reader.resync(body)
