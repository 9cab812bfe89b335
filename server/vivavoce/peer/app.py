"""The local peer's HTTP app: the realtime and fault-admin routes, and the running server.

Routes (all under ``/v1``, all need a bearer key, see :mod:`.auth`; every request must name
this server in its ``Host`` header, see :mod:`.http`):

* GA realtime: ``POST /realtime/client_secrets``, ``POST /realtime/calls`` (``application/sdp``
  or multipart ``sdp`` + ``session``) → 201 + ``Location``, ``POST /realtime/calls/{id}/hangup``.
  With ``max_calls`` calls open, a new call (and a key for one) gets a 429
  ``rate_limit_exceeded`` (:meth:`Peer.check_capacity`).
* beta realtime: ``POST /realtime/sessions``, ``POST /realtime?model=…`` (calls made here speak
  beta event names). With ``ga_only`` they, and beta-shaped sessions on the GA routes, get
  api.openai.com's 400 ``beta_api_shape_disabled``.
* WebSocket realtime: ``GET /realtime?model=…`` upgraded to a WebSocket (:mod:`.ws`); the key in
  ``Authorization`` or, from a browser, as the ``openai-insecure-api-key.<key>`` subprotocol
  (ephemeral keys too); beta event names with ``OpenAI-Beta: realtime=v1``. Refusals come
  before the upgrade, as HTTP errors in the API's shape.
* text: ``POST /chat/completions``, ``POST /audio/speech``, ``POST /audio/transcriptions``,
  ``GET /models`` (see :mod:`.textapi`).
* fault admin, only on a peer started with ``fault_admin`` (``vivavoce peer --faults``):
  ``GET``/``POST /_admin/faults``.

What the routes share (the :class:`~vivavoce.peer.peer.Peer`, body readers, CORS and error
middleware) is in :mod:`.http`. :func:`start_peer` runs the app in-process and returns a
:class:`RunningPeer`.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from ..realtime.events import Dialect, Session, new_id, session_from_beta, session_to_beta
from ..tasks import CloseOnce
from . import textapi
from .auth import AuthError
from .errors import ApiError
from .faults import CALL_FAULTS, GARBLED_SDP, check_names, unreachable
from .http import PEER_KEY, PeerRunner, expect, form_body, form_text, json_body, middleware, peer_of
from .models import check_model
from .options import PeerOptions
from .peer import Peer
from .rtc import PeerCall
from .session_config import (
    BETA_DISABLED,
    default_session,
    is_beta_shape,
    merge_session,
    session_patch,
)
from .ws import WsCall

log = logging.getLogger(__name__)

MAX_SDP_BYTES = 256 * 1024
#: Seconds a WebSocket's closing handshake may take.
CLOSE_TIMEOUT = 2.0
GA_DEFAULT_EXPIRY = 600
BETA_EXPIRY = 60


# --------------------------------------------------------------------------- realtime routes


def _refuse_beta(peer: Peer) -> None:
    """A beta route or shape: what api.openai.com answers now (with ``ga_only``)."""
    if peer.options.ga_only:
        raise ApiError(400, BETA_DISABLED, code="beta_api_shape_disabled")


def _session_from(peer: Peer, raw: Any, base: Session, param: str) -> Session:
    """``base`` with a client's session (GA or beta shape) applied."""
    if raw is None:
        return base
    if not isinstance(raw, dict):
        raise ApiError(400, "The session must be a JSON object.", param=param)
    if is_beta_shape(raw):
        _refuse_beta(peer)
    try:
        parsed = session_from_beta(raw)
        session = merge_session(base, session_patch(raw, parsed))
    except (ValidationError, ValueError) as exc:
        raise ApiError(400, f"Invalid session: {exc}".splitlines()[0], param=param) from exc
    check_model(session.model, "realtime", param=f"{param}.model")
    return session


def _model_in(raw: Any) -> str | None:
    """A posted session's model, when it is a string (:func:`_session_from` refuses others)."""
    model = raw.get("model") if isinstance(raw, dict) else None
    return model if isinstance(model, str) else None


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
    peer.check_capacity()  # a key for a call that would be refused now: say so at once
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
    base = default_session(_model_in(raw))
    session = _session_from(peer, raw, base, "session")
    key = peer.keys.mint(session, seconds, "ga")
    return web.json_response(
        {
            "value": key.value,
            "expires_at": key.expires_at,
            # When a session opened now ends (the key's own expiry is the top-level one).
            "session": _session_json(session, int(time.time() + peer.options.max_session_seconds)),
        }
    )


async def _read_offer(request: web.Request) -> tuple[str, Any]:
    """The offer SDP and the session part (multipart) or None."""
    ctype = request.content_type
    if ctype == "application/sdp":
        raw = await request.content.read(MAX_SDP_BYTES + 1)
        if len(raw) > MAX_SDP_BYTES:
            raise ApiError(413, "The SDP offer is too large.", param="sdp")
        return raw.decode(errors="replace"), None
    if ctype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        form = await form_body(request)
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
    session = _session_from(peer, session_raw, base, "session")
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


async def realtime_websocket(request: web.Request) -> web.StreamResponse:
    """``GET /v1/realtime?model=…``: a call over a WebSocket, until either side closes it."""
    from .ws import MAX_MESSAGE_BYTES, SUBPROTOCOL, authorization, wants_beta

    peer = peer_of(request)
    try:
        key = peer.keys.check(authorization(request), allow_ephemeral=True)
    except AuthError as exc:
        raise ApiError(401, exc.message, code=exc.code) from None
    dialect: Dialect = "beta" if wants_beta(request) else "ga"
    if dialect == "beta":
        _refuse_beta(peer)
    if "call_id" in request.query:
        # Sideband control of a WebRTC call (the real API's ?call_id=): not served here.
        raise ApiError(
            400,
            "This peer does not serve sideband connections (call_id); connect with ?model= "
            "for a call of its own.",
            param="call_id",
            code="unsupported_parameter",
        )
    model = request.query.get("model")
    check_model(model, "realtime")
    if key is not None:
        session = key.session.model_copy(deep=True)
        session.id = new_id("sess")
    else:
        session = default_session(model or peer.options.model)
    if peer.closing.is_set():
        raise ApiError(503, "The server is shutting down.", type="server_error")
    socket = web.WebSocketResponse(
        protocols=(SUBPROTOCOL,), max_msg_size=MAX_MESSAGE_BYTES, timeout=CLOSE_TIMEOUT
    )
    if not socket.can_prepare(request).ok:
        raise ApiError(
            426,
            "This route takes a WebSocket: send GET with 'Upgrade: websocket' (or POST an SDP "
            "offer to /v1/realtime/calls for WebRTC).",
            code="websocket_required",
        )
    peer.check_capacity()  # a 429 before the upgrade, as for WebRTC offers
    await socket.prepare(request)
    await peer.open_websocket_call(socket, session, dialect).run()
    return socket


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
    _refuse_beta(peer)
    if (malformed := peer.faults.check_key()) is not None:
        return web.json_response(malformed)
    peer.check_capacity()
    body = await json_body(request)
    session = _session_from(peer, body, default_session(_model_in(body)), "session")
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
    _refuse_beta(peer)
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


# --------------------------------------------------------------------------- fault admin


def _loopback(request: web.Request) -> bool:
    # netguard's rule: also ``::ffff:127.0.0.1``, a loopback client on a dual-stack socket.
    from ..netguard import is_loopback

    return is_loopback(request.remote or "")


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
    app = web.Application(
        middlewares=[middleware], client_max_size=peer.options.max_upload_bytes + 64 * 1024
    )
    app[PEER_KEY] = peer
    routes = [
        ("POST", "/v1/realtime/client_secrets", client_secrets),
        ("POST", "/v1/realtime/calls", create_call),
        ("POST", "/v1/realtime/calls/{call_id}/hangup", hangup),
        ("POST", "/v1/realtime/sessions", beta_sessions),
        ("POST", "/v1/realtime", beta_call),
        ("GET", "/v1/realtime", realtime_websocket),
        *textapi.ROUTES,
    ]
    if peer.options.fault_admin:  # the fault route exists only when asked for (--faults)
        routes += [
            ("GET", "/v1/_admin/faults", admin_faults),
            ("POST", "/v1/_admin/faults", admin_faults),
        ]
    for method, path, handler in routes:
        app.router.add_route(method, path, handler, expect_handler=expect)
    return app


class RunningPeer:
    """A peer serving on ``base_url`` (``http://HOST:PORT/v1``) until :meth:`close`."""

    def __init__(self, runner: web.AppRunner, peer: Peer, host: str, port: int) -> None:
        self._runner = runner
        self.peer = peer
        self.host = host
        self.port = port
        self.base_url = f"http://{host}:{port}/v1"
        #: The key it requires (None: any); never log it.
        self.api_key = peer.keys.api_key
        self.started_at = time.time()
        self._closing = CloseOnce()

    @property
    def calls(self) -> dict[str, PeerCall | WsCall]:
        return self.peer.calls

    @property
    def running(self) -> bool:
        """True until :meth:`close` (the :class:`~.process.LocalPeer` protocol)."""
        return not self._closing.started

    async def close(self) -> None:
        """Hang up every call and stop serving (idempotent; a second caller waits)."""
        await self._closing.run(self._close)

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
    runner = PeerRunner(create_app(peer), access_log=None, handle_signals=False)
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
