"""OpenAI-shaped HTTP errors of the local peer: ``{"error": {message, type, param, code}}``."""

from __future__ import annotations

from aiohttp import web


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
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def error_response(exc: ApiError) -> web.Response:
    return web.json_response(
        error_body(exc.message, exc.type, exc.param, exc.code),
        status=exc.status,
        headers=exc.headers or None,
    )
