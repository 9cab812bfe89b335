"""What every HTTP route of the peer shares: the peer, request bodies, CORS and errors.

:func:`peer_of` finds the :class:`~vivavoce.peer.peer.Peer` behind a request;
:func:`json_body` and :func:`form_text` read request bodies; :func:`middleware` answers
preflights, adds CORS headers and turns errors into OpenAI-shaped responses.

Every response (errors included) carries ``Access-Control-Allow-Origin``, as the real API's do:
a page may call a peer it holds a key for, and one without the key gets only 401s. ``OPTIONS``
answers any preflight (and only preflights: a page's own ``OPTIONS`` request gets a 405).

Before anything else, the ``Host`` header must name this server
(:func:`vivavoce.netguard.addressed_here`): a DNS-rebinding page gets a 421 and nothing else.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ..netguard import addressed_here
from .errors import ApiError, error_body, error_response
from .peer import Peer

log = logging.getLogger(__name__)

PEER_KEY: web.AppKey[Peer] = web.AppKey("vivavoce_peer", object)  # type: ignore[arg-type]
DEFAULT_ALLOW_HEADERS = "authorization, content-type, x-openai-agents-sdk, openai-beta"


def peer_of(request: web.Request) -> Peer:
    return request.app[PEER_KEY]


def cors_headers(request: web.Request) -> dict[str, str]:
    return {
        "Access-Control-Allow-Origin": request.headers.get("Origin", "*"),
        "Access-Control-Expose-Headers": "Location",
        "Vary": "Origin",
    }


@web.middleware
async def middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    if not addressed_here(request.headers.get("Host"), peer_of(request).host):
        resp: web.StreamResponse = web.json_response(
            error_body(
                "Misdirected request: this server answers only requests addressed to it "
                "(Host 127.0.0.1, localhost or the address it listens on).",
                code="misdirected_request",
            ),
            status=421,
        )
    elif request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        resp = web.Response(status=204)
        resp.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        resp.headers["Access-Control-Allow-Headers"] = request.headers.get(
            "Access-Control-Request-Headers", DEFAULT_ALLOW_HEADERS
        )
        resp.headers["Access-Control-Max-Age"] = "600"
    else:
        try:
            resp = await handler(request)
        except ApiError as exc:
            resp = error_response(exc)
        except web.HTTPRequestEntityTooLarge:
            limit = peer_of(request).options.max_upload_bytes
            resp = web.json_response(
                error_body(
                    f"The request is too large; the limit is {limit // (1024 * 1024)} MiB.",
                    code="request_too_large",
                ),
                status=413,
            )
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status)
            resp = web.json_response(
                error_body(f"{exc.reason}: {request.method} {request.path}", code=code),
                status=exc.status,
            )
        except Exception:
            log.exception("unhandled error in %s %s", request.method, request.path)
            resp = web.json_response(
                error_body("The local peer failed to handle the request.", "server_error"),
                status=500,
            )
    if not resp.prepared:
        for key, value in cors_headers(request).items():
            resp.headers.setdefault(key, value)
    return resp


async def json_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise ApiError(400, "The request body is not valid JSON.", code="invalid_json") from None
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.", code="invalid_json")
    return body


def form_text(value: Any) -> str | None:
    """A form field as text, whether aiohttp gave a str, bytes or a file part."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode(errors="replace")
    if isinstance(value, web.FileField):
        return bytes(value.file.read()).decode(errors="replace")
    return None
