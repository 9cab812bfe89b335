"""What every HTTP route of the peer shares: the peer, request bodies, CORS and errors.

:func:`peer_of` finds the :class:`~vivavoce.peer.peer.Peer` behind a request;
:func:`json_body`, :func:`form_body` and :func:`form_text` read request bodies;
:func:`middleware` answers preflights, adds CORS headers and turns errors into OpenAI-shaped
responses. What never reaches a route is answered in the same shape: an ``Expect`` header other
than ``100-continue`` (:func:`expect`), and a request aiohttp's parser refuses (a lying
``Content-Length``, huge headers: :class:`PeerRunner`).

Every response (errors included) carries ``Access-Control-Allow-Origin``, as the real API's do:
a page may call a peer it holds a key for, and one without the key gets only 401s. ``OPTIONS``
answers any preflight (and only preflights: a page's own ``OPTIONS`` request gets a 405).

Before anything else, the ``Host`` header must name this server
(:func:`vivavoce.netguard.addressed_here`): a DNS-rebinding page gets a 421 and nothing else.

A peer started without an API key takes any bearer, so no web page may use it: a request whose
``Origin`` is not a loopback one (``http://127.0.0.1:…``, ``http://localhost:…``) gets a 403
(:func:`foreign_page`), preflights included. Browsers send ``Origin`` on every cross-origin
``POST`` and on every ``fetch`` that needs CORS; programs (``vivavoce lsp``, the SDKs, curl)
send none and are served as before. A peer with a key answers pages as the real API does.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from aiohttp import HttpVersion11, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler

from ..netguard import addressed_here, is_loopback
from .errors import ApiError, error_body, error_response, one_line
from .peer import Peer

log = logging.getLogger(__name__)

PEER_KEY: web.AppKey[Peer] = web.AppKey("vivavoce_peer", object)  # type: ignore[arg-type]
DEFAULT_ALLOW_HEADERS = "authorization, content-type, x-openai-agents-sdk, openai-beta"


def peer_of(request: web.Request) -> Peer:
    return request.app[PEER_KEY]


def foreign_page(request: web.Request) -> str | None:
    """The ``Origin`` of a web page on another site, when this peer has no key; else None."""
    origin = request.headers.get("Origin")
    if origin is None or peer_of(request).keys.api_key is not None:
        return None
    scheme = origin.partition("://")[0].lower()
    return None if scheme in ("http", "https") and is_loopback(origin) else origin


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
    elif (origin := foreign_page(request)) is not None:
        log.warning("refused a request from the web page %s (no key)", one_line(origin)[:100])
        resp = web.json_response(
            error_body(
                f"Forbidden: this peer has no API key, so it answers no web page (Origin "
                f"{origin}); start it with --api-key to let pages use it.",
                code="origin_not_allowed",
            ),
            status=403,
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
        except ConnectionResetError:
            # The client stopped sending the body it announced; it may still read this.
            resp = error_response(
                ApiError(400, "The request body ended before its Content-Length.")
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
    except (ValueError, RecursionError):  # RecursionError: nested deeper than json allows
        raise ApiError(400, "The request body is not valid JSON.", code="invalid_json") from None
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.", code="invalid_json")
    return body


async def form_body(request: web.Request) -> Any:
    """The posted form (multipart or urlencoded); 400 when it cannot be parsed."""
    try:
        return await request.post()
    except (ValueError, HttpProcessingError) as exc:  # no boundary, a part's bad header
        detail = " ".join(str(getattr(exc, "message", None) or exc).split())
        raise ApiError(400, f"The request body is not a valid form: {detail}") from None


def form_text(value: Any) -> str | None:
    """A form field as text, whether aiohttp gave a str, bytes or a file part."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode(errors="replace")
    if isinstance(value, web.FileField):
        return bytes(value.file.read()).decode(errors="replace")
    return None


async def expect(request: web.Request) -> web.StreamResponse | None:
    """The routes' ``Expect`` handler: ``100-continue`` as aiohttp does, any other value a 417
    in the OpenAI shape (aiohttp's own answer is plain text and skips the middleware)."""
    value = request.headers.get("Expect", "")
    if request.version != HttpVersion11:
        return None
    if value.lower() == "100-continue":
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0  # as aiohttp's handler: the body has not started
        return None
    resp = web.json_response(
        error_body(f"Unsupported Expect header: {value!r}.".splitlines()[0]), status=417
    )
    resp.headers.update(cors_headers(request))
    return resp


class _Handler(RequestHandler):
    """aiohttp's connection handler, refusing what its parser refuses in the OpenAI shape."""

    __slots__ = ()

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """One line in the OpenAI error shape, and one log line (not aiohttp's traceback)."""
        if request.writer.output_size > 0:
            raise ConnectionError("the response has started; cannot send the error")
        if status >= 500:
            log.error("failed to handle %s %s", request.method, request.path, exc_info=exc)
            body = error_body("The local peer failed to handle the request.", "server_error")
        else:
            first = (message or HTTPStatus(status).phrase).strip().splitlines()[0].rstrip(":")
            log.info("refused a malformed request from %s: %s", request.remote, first)
            body = error_body(f"Invalid HTTP request: {first}", code="invalid_request")
        resp = web.json_response(body, status=status)
        resp.force_close()
        return resp


class _Server(web.Server):
    def __call__(self) -> RequestHandler:
        handler = super().__call__()
        handler.__class__ = _Handler  # same slots, one method overridden
        return handler


class PeerRunner(web.AppRunner):
    """An :class:`~aiohttp.web.AppRunner` whose connections answer requests aiohttp's parser
    refuses (a lying ``Content-Length``, huge headers) in the OpenAI error shape."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _Server  # the connection factory: same state, one method more
        return server
