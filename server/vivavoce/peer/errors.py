"""OpenAI-shaped HTTP errors of the local peer: ``{"error": {message, type, param, code}}``."""

from __future__ import annotations

import re

from aiohttp import web

#: Longest message the peer sends (a client's value quoted in one stays readable).
MAX_MESSAGE_CHARS = 1000
_CONTROL = re.compile("[\x00-\x1f\x7f\u2028\u2029]")


def one_line(message: str) -> str:
    """``message`` on one line: control characters (from a client's value quoted in it)
    escaped, and at most :data:`MAX_MESSAGE_CHARS` long."""
    line = _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode(), message)
    return line if len(line) <= MAX_MESSAGE_CHARS else line[: MAX_MESSAGE_CHARS - 1] + "…"


class ApiError(Exception):
    """Raised by a route; the app turns it into an OpenAI-shaped error response."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = (
            status,
            message,
            type,
            param,
            code,
        )
        #: Extra response headers (e.g. ``retry-after`` of a 429).
        self.headers: dict[str, str] = {}


def error_body(
    message: str,
    type: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> dict[str, dict[str, str | None]]:
    return {"error": {"message": one_line(message), "type": type, "param": param, "code": code}}


def error_response(exc: ApiError) -> web.Response:
    return web.json_response(
        error_body(exc.message, exc.type, exc.param, exc.code),
        status=exc.status,
        headers=exc.headers or None,
    )
