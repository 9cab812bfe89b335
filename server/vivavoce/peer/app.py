"""The local peer's HTTP side: routes, auth, CORS, errors, and the running server.

Routes (all under ``/v1``, all need a bearer key, see :mod:`.auth`):

* GA realtime: ``POST /realtime/client_secrets``, ``POST /realtime/calls`` (``application/sdp``
  or multipart ``sdp`` + ``session``) → 201 + ``Location``, ``POST /realtime/calls/{id}/hangup``.
* beta realtime: ``POST /realtime/sessions``, ``POST /realtime?model=…`` (calls made here speak
  beta event names).
* text: ``POST /chat/completions``, ``POST /audio/speech``, ``POST /audio/transcriptions``,
  ``GET /models`` (see :mod:`.textapi`).

Every response (errors included) carries ``Access-Control-Allow-Origin``; ``OPTIONS`` answers
any preflight. :func:`start_peer` runs it in-process and returns a :class:`RunningPeer`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from ..realtime.events import Session, new_id, session_from_beta, session_to_beta
from .auth import AuthError, EphemeralKey, KeyStore
from .errors import ApiError, error_body, error_response
from .faults import CALL_FAULTS, GARBLED_SDP, Faults, check_names, unreachable
from .models import check_model
from .options import PeerOptions
from .responders import BuiltinResponder, ChatResponder, Responder
from .rtc import PeerCall
from .session import Dialect, Services, default_session, merge_session, session_patch
from .stt import Recognizer
from .tts import Synthesizer

log = logging.getLogger(__name__)

PEER_KEY: web.AppKey[Peer] = web.AppKey("vivavoce_peer", object)  # type: ignore[arg-type]
MAX_SDP_BYTES = 256 * 1024
GA_DEFAULT_EXPIRY = 600
BETA_EXPIRY = 60
DEFAULT_ALLOW_HEADERS = "authorization, content-type, x-openai-agents-sdk, openai-beta"


class Peer:
    """State shared by the routes: keys, calls, speech services, options."""

    def __init__(self, options: PeerOptions, api_key: str | None, host: str) -> None:
        self.options = options
        self.keys = KeyStore(api_key)
        self.host = host
        self.calls: dict[str, PeerCall] = {}
        self.faults = Faults(
            frozenset(options.faults), delay=options.fault_delay, sdp_delay=options.fault_sdp_delay
        )
        self.closing = asyncio.Event()
        responder: Responder
        if options.responder is not None:
            responder = options.responder
        elif options.responder_url:
            responder = ChatResponder(
                options.responder_url,
                model=options.responder_model,
                api_key=options.responder_api_key,
            )
        else:
            responder = BuiltinResponder()
        self.services = Services(Synthesizer(), Recognizer(), responder)
        self._warm: asyncio.Task[None] | None = None

    def auth(self, request: web.Request, *, allow_ephemeral: bool = False) -> EphemeralKey | None:
        try:
            return self.keys.check(
                request.headers.get("Authorization"), allow_ephemeral=allow_ephemeral
            )
        except AuthError as exc:
            raise ApiError(401, exc.message, code=exc.code) from None

    def warm_up(self) -> None:
        """Load a recognizer in the background when the first call arrives."""
        if self._warm is None and self.options.mode == "assistant":
            self._warm = asyncio.get_running_loop().create_task(
                self.services.recognizer.warm_up(), name="peer:stt-warm-up"
            )

    async def open_call(
        self, offer: str, session: Session, dialect: Dialect
    ) -> tuple[PeerCall, str]:
        if self.closing.is_set():
            raise ApiError(503, "The server is shutting down.", type="server_error")
        if "v=0" not in offer or "m=" not in offer:
            raise ApiError(400, "The SDP offer is not valid.", param="sdp", code="invalid_offer")
        self.warm_up()
        call = PeerCall(
            new_id("rtc"),
            self.services,
            session=session,
            dialect=dialect,
            mode=self.options.mode,
            host=self.host,
            on_closed=self._forget,
            faults=self.faults,
        )
        self.calls[call.id] = call
        try:
            answer = await call.answer(offer)
        except Exception as exc:
            await call.close()
            log.warning("could not answer an offer: %s", exc)
            raise ApiError(
                400, f"Could not accept the SDP offer: {exc}", param="sdp", code="invalid_offer"
            ) from exc
        log.info("%s: call opened (%s, %s)", call.id, dialect, self.options.mode)
        return call, answer

    def _forget(self, call: PeerCall) -> None:
        self.calls.pop(call.id, None)

    async def linger(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if the peer closes meanwhile (``sdp-slow``)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.closing.wait(), seconds)

    async def close(self) -> None:
        self.closing.set()
        for call in list(self.calls.values()):
            await call.close()
        if self._warm is not None:
            self._warm.cancel()
            try:
                await self._warm
            except (asyncio.CancelledError, Exception):
                log.debug("recognizer warm-up did not finish")
        await self.services.responder.aclose()


def peer_of(request: web.Request) -> Peer:
    return request.app[PEER_KEY]


# --------------------------------------------------------------------------- middleware


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
    if request.method == "OPTIONS":
        resp: web.StreamResponse = web.Response(status=204)
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


# --------------------------------------------------------------------------- realtime routes


def _session_from(raw: Any, base: Session, param: str) -> Session:
    """``base`` with a client's session (GA or beta shape) applied."""
    if raw is None:
        return base
    if not isinstance(raw, dict):
        raise ApiError(400, "The session must be a JSON object.", param=param)
    try:
        parsed = session_from_beta(raw)
        session = merge_session(base, session_patch(raw, parsed))
    except (ValidationError, ValueError) as exc:
        raise ApiError(400, f"Invalid session: {exc}".splitlines()[0], param=param) from exc
    check_model(session.model, "realtime", param=f"{param}.model")
    return session


def _session_json(session: Session, expires_at: int | None = None) -> dict[str, Any]:
    data: dict[str, Any] = session.model_dump(mode="json", exclude_none=True)
    data["id"] = session.id or new_id("sess")
    data["object"] = "realtime.session"
    if expires_at is not None:
        data["expires_at"] = expires_at
    return data


async def client_secrets(request: web.Request) -> web.Response:
    peer = peer_of(request)
    peer.auth(request)
    if (malformed := peer.faults.check_key()) is not None:
        return web.json_response(malformed)
    body = await json_body(request)
    expires_after = body.get("expires_after") or {}
    seconds = (
        expires_after.get("seconds", GA_DEFAULT_EXPIRY) if isinstance(expires_after, dict) else None
    )
    if not isinstance(seconds, int) or isinstance(seconds, bool) or not 10 <= seconds <= 7200:
        raise ApiError(
            400,
            "expires_after.seconds must be an integer between 10 and 7200.",
            param="expires_after.seconds",
            code="invalid_value",
        )
    raw = body.get("session") or {"type": "realtime"}
    base = default_session(raw.get("model") if isinstance(raw, dict) else None)
    session = _session_from(raw, base, "session")
    key = peer.keys.mint(session, seconds, "ga")
    return web.json_response(
        {
            "value": key.value,
            "expires_at": key.expires_at,
            "session": _session_json(session, key.expires_at),
        }
    )


def form_text(value: Any) -> str | None:
    """A form field as text, whether aiohttp gave a str, bytes or a file part."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode(errors="replace")
    if isinstance(value, web.FileField):
        return bytes(value.file.read()).decode(errors="replace")
    return None


async def _read_offer(request: web.Request) -> tuple[str, Any]:
    """The offer SDP and the session part (multipart) or None."""
    ctype = request.content_type
    if ctype == "application/sdp":
        raw = await request.content.read(MAX_SDP_BYTES + 1)
        if len(raw) > MAX_SDP_BYTES:
            raise ApiError(413, "The SDP offer is too large.", param="sdp")
        return raw.decode(errors="replace"), None
    if ctype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        form = await request.post()
        sdp = form_text(form.get("sdp"))
        if sdp is None:
            raise ApiError(
                400,
                "The form needs an 'sdp' field.",
                param="sdp",
                code="missing_required_parameter",
            )
        session_raw = form_text(form.get("session"))
        if session_raw is None:
            return sdp, None
        try:
            return sdp, json.loads(session_raw)
        except ValueError:
            raise ApiError(400, "The 'session' field is not valid JSON.", param="session") from None
    raise ApiError(
        400,
        f"Unsupported content type '{ctype}': post the offer as application/sdp or as "
        "multipart/form-data with 'sdp' and 'session' fields.",
        code="unsupported_content_type",
    )


async def create_call(request: web.Request) -> web.Response:
    peer = peer_of(request)
    key = peer.auth(request, allow_ephemeral=True)
    offer, session_raw = await _read_offer(request)
    base = key.session.model_copy(deep=True) if key else default_session(peer.options.model)
    base.id = new_id("sess")
    session = _session_from(session_raw, base, "session")
    call, answer = await answer_with_faults(peer, offer, session, "ga")
    return web.Response(
        status=201,
        body=answer.encode(),
        content_type="application/sdp",
        headers={"Location": f"/v1/realtime/calls/{call.id}"},
    )


async def answer_with_faults(
    peer: Peer, offer: str, session: Session, dialect: Dialect
) -> tuple[PeerCall, str]:
    """``peer.open_call``, with the SDP faults that are on."""
    faults = peer.faults
    faults.check_offer()
    if faults.on("sdp-slow"):
        await peer.linger(faults.sdp_delay)
    call, answer = await peer.open_call(offer, session, dialect)
    if faults.on("sdp-garbled"):
        await call.close()
        return call, GARBLED_SDP
    if faults.on("ice-unreachable"):
        await call.close()  # nobody answers the checks, and the peer checks nobody
        return call, unreachable(answer)
    return call, answer


async def hangup(request: web.Request) -> web.Response:
    peer = peer_of(request)
    peer.auth(request, allow_ephemeral=True)
    call = peer.calls.get(request.match_info["call_id"])
    if call is None:
        raise ApiError(404, "No call with this id.", param="call_id", code="call_not_found")
    await call.close()
    return web.Response(status=200)


async def beta_sessions(request: web.Request) -> web.Response:
    peer = peer_of(request)
    peer.auth(request)
    if (malformed := peer.faults.check_key()) is not None:
        return web.json_response(malformed)
    body = await json_body(request)
    session = _session_from(body, default_session(body.get("model")), "session")
    key = peer.keys.mint(session, BETA_EXPIRY, "beta")
    data = session_to_beta(session)
    data.update(
        id=session.id,
        object="realtime.session",
        model=session.model,
        expires_at=key.expires_at,
        client_secret={"value": key.value, "expires_at": key.expires_at},
    )
    return web.json_response(data)


async def beta_call(request: web.Request) -> web.Response:
    peer = peer_of(request)
    key = peer.auth(request, allow_ephemeral=True)
    if request.content_type != "application/sdp":
        raise ApiError(
            400, "Post the SDP offer as application/sdp.", code="unsupported_content_type"
        )
    offer, _ = await _read_offer(request)
    model = request.query.get("model")
    check_model(model, "realtime")
    if key is not None:
        session = key.session.model_copy(deep=True)
        session.id = new_id("sess")
    else:
        session = default_session(model or peer.options.model)
    call, answer = await answer_with_faults(peer, offer, session, "beta")
    return web.Response(
        status=201,
        body=answer.encode(),
        content_type="application/sdp",
        headers={"Location": f"/v1/realtime/calls/{call.id}"},
    )


# --------------------------------------------------------------------------- the server


# --------------------------------------------------------------------------- fault admin


def _loopback(request: web.Request) -> bool:
    try:
        return ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        return False


async def admin_faults(request: web.Request) -> web.Response:
    """``GET``: the faults on. ``POST {"faults": [...], "fire": [...]}``: set them, fire now.

    Loopback clients only (even on a peer started with ``--allow-remote``), with the key.
    """
    peer = peer_of(request)
    if not _loopback(request):
        raise ApiError(403, "The fault admin endpoint is for loopback clients only.")
    peer.auth(request)
    if request.method == "POST":
        body = await json_body(request)
        try:
            if "faults" in body:
                peer.faults.set(_names(body["faults"], "faults"))
            fire = sorted(check_names(_names(body.get("fire", []), "fire")))
            if "delay" in body:
                peer.faults.delay = float(body["delay"])
        except (ValueError, TypeError) as exc:
            raise ApiError(400, str(exc), code="invalid_value") from None
        if not set(fire) <= CALL_FAULTS:
            raise ApiError(400, f"only call faults can be fired: {sorted(CALL_FAULTS)}")
        fired = 0
        for call in list(peer.calls.values()):
            for name in fire:
                call.inject(name)
            fired += bool(fire)
        log.warning(
            "faults now %s; fired %s on %d call(s)", sorted(peer.faults.active), fire, fired
        )
        return web.json_response({**peer.faults.wire(), "fired": fired})
    return web.json_response(peer.faults.wire())


def _names(value: Any, field: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"{field} must be a list of fault names")
    return list(value)


def create_app(peer: Peer) -> web.Application:
    from . import textapi

    app = web.Application(
        middlewares=[middleware], client_max_size=peer.options.max_upload_bytes + 64 * 1024
    )
    app[PEER_KEY] = peer
    app.router.add_post("/v1/realtime/client_secrets", client_secrets)
    app.router.add_post("/v1/realtime/calls", create_call)
    app.router.add_post("/v1/realtime/calls/{call_id}/hangup", hangup)
    app.router.add_post("/v1/realtime/sessions", beta_sessions)
    app.router.add_post("/v1/realtime", beta_call)
    app.router.add_route("GET", "/v1/_admin/faults", admin_faults)
    app.router.add_route("POST", "/v1/_admin/faults", admin_faults)
    textapi.add_routes(app)
    return app


class RunningPeer:
    """A peer serving on ``base_url`` (``http://HOST:PORT/v1``) until :meth:`close`."""

    def __init__(self, runner: web.AppRunner, peer: Peer, host: str, port: int) -> None:
        self._runner = runner
        self.peer = peer
        self.host = host
        self.port = port
        self.base_url = f"http://{host}:{port}/v1"
        self.started_at = time.time()
        self._closing: asyncio.Task[None] | None = None

    @property
    def calls(self) -> dict[str, PeerCall]:
        return self.peer.calls

    @property
    def running(self) -> bool:
        """True until :meth:`close` (the :class:`~.process.LocalPeer` protocol)."""
        return self._closing is None

    async def close(self) -> None:
        """Hang up every call and stop serving (idempotent)."""
        if self._closing is None:
            self._closing = asyncio.get_running_loop().create_task(self._close(), name="peer:close")
        await asyncio.shield(self._closing)

    async def _close(self) -> None:
        await self.peer.close()
        await self._runner.cleanup()

    async def __aenter__(self) -> RunningPeer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def start_peer(
    host: str = "127.0.0.1", port: int = 0, api_key: str | None = None, **options: Any
) -> RunningPeer:
    """Serve a local peer on ``host:port`` (0 = a free port); see :class:`PeerOptions`."""
    opts = PeerOptions(**options)
    peer = Peer(opts, api_key, host)  # ValueError for an unknown fault name
    runner = web.AppRunner(create_app(peer), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        await peer.close()
        raise
    bound = port
    server: Any = site._server  # the asyncio server: the only place the chosen port is known
    if server is not None and getattr(server, "sockets", None):
        bound = int(server.sockets[0].getsockname()[1])
    log.info("local peer on http://%s:%d/v1 (%s)", host, bound, opts.mode)
    if peer.faults.active:
        log.warning("injecting faults: %s", ", ".join(sorted(peer.faults.active)))
    return RunningPeer(runner, peer, host, bound)
