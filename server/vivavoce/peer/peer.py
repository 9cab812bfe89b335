"""The running peer behind the HTTP routes: its keys, calls, speech services and options.

:class:`Peer` holds what every route shares: the :class:`~vivavoce.peer.auth.KeyStore`, the
open :class:`~vivavoce.peer.rtc.PeerCall` objects by id, one set of speech
:class:`~vivavoce.peer.services.Services` (loaded once, shared by calls and the text routes),
and the faults that are on. It opens calls and, on :meth:`Peer.close`, hangs them all up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from aiohttp import web

from ..realtime.events import Dialect, Session, new_id
from ..tasks import CloseOnce, TaskSet
from .auth import AuthError, EphemeralKey, KeyStore
from .errors import ApiError
from .faults import Faults
from .options import PeerOptions
from .rtc import PeerCall
from .services import services_for

if TYPE_CHECKING:
    from .ws import WsCall

log = logging.getLogger(__name__)


class Peer:
    """State shared by the routes: keys, calls, speech services, options."""

    def __init__(self, options: PeerOptions, api_key: str | None, host: str) -> None:
        self.options = options
        self.keys = KeyStore(api_key)
        self.host = host
        #: Open calls by id, over WebRTC or WebSocket.
        self.calls: dict[str, PeerCall | WsCall] = {}
        self.faults = Faults(
            frozenset(options.faults), delay=options.fault_delay, sdp_delay=options.fault_sdp_delay
        )
        self.closing = asyncio.Event()
        self.services = services_for(options)
        self._tasks = TaskSet("peer")
        self._warming = False
        self._closed = CloseOnce()

    def auth(self, request: web.Request, *, allow_ephemeral: bool = False) -> EphemeralKey | None:
        try:
            return self.keys.check(
                request.headers.get("Authorization"), allow_ephemeral=allow_ephemeral
            )
        except AuthError as exc:
            raise ApiError(401, exc.message, code=exc.code) from None

    def check_capacity(self) -> None:
        """Raise a 429 when ``max_calls`` calls are open (shaped as the API's rate-limit
        error). Checked and followed by the call's registration with no await in between, so
        simultaneous offers cannot both take the last place."""
        limit = self.options.max_calls
        if len(self.calls) >= limit:
            log.warning("refused a call: %d of %d open", len(self.calls), limit)
            raise ApiError(
                429,
                f"Too many simultaneous calls: this server takes {limit} at a time "
                f"(limit {limit}, open {len(self.calls)}, requested 1). "
                "Please try again when a call ends.",
                type="requests",
                code="rate_limit_exceeded",
            )

    def warm_up(self) -> None:
        """Load a recognizer in the background when the first call arrives."""
        if not self._warming and self.options.mode == "assistant":
            self._warming = True
            self._tasks.spawn(self.services.recognizer.warm_up(), "recognizer warm-up")

    async def open_call(
        self, offer: str, session: Session, dialect: Dialect
    ) -> tuple[PeerCall, str]:
        if self.closing.is_set():
            raise ApiError(503, "The server is shutting down.", type="server_error")
        if "v=0" not in offer or "m=" not in offer:
            raise ApiError(400, "The SDP offer is not valid.", param="sdp", code="invalid_offer")
        if not _sections_named(offer):
            # aiortc fails inside (and leaves a failed task behind) on such an offer.
            raise ApiError(
                400,
                "The SDP offer is not valid: every m= section needs one a=mid of its own.",
                param="sdp",
                code="invalid_offer",
            )
        self.check_capacity()
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
            options=self.options,
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

    def open_websocket_call(
        self, socket: web.WebSocketResponse, session: Session, dialect: Dialect
    ) -> WsCall:
        """A call over an upgraded WebSocket (the caller runs it: :meth:`WsCall.run`)."""
        from .ws import WsCall

        self.warm_up()
        call = WsCall(
            new_id("ws"),
            socket,
            self.services,
            session=session,
            dialect=dialect,
            on_closed=self._forget,
            faults=self.faults,
            options=self.options,
        )
        self.calls[call.id] = call
        log.info("%s: websocket call opened (%s)", call.id, dialect)
        return call

    def _forget(self, call: PeerCall | WsCall) -> None:
        self.calls.pop(call.id, None)

    async def linger(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if the peer closes meanwhile (``sdp-slow``)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.closing.wait(), seconds)

    async def close(self) -> None:
        """Refuse new calls, hang up the open ones, stop the services (idempotent)."""
        await self._closed.run(self._close)

    async def _close(self) -> None:
        self.closing.set()
        for call in list(self.calls.values()):
            await call.close()
        await self._tasks.cancel_all()
        await self.services.aclose()


def _sections_named(offer: str) -> bool:
    """Each media section of ``offer`` names one mid of its own, and the BUNDLE group names
    only those (JSEP offers always do; aiortc fails inside on an offer that does not)."""
    lines = offer.replace("\r\n", "\n").split("\n")
    sections: list[list[str]] = []
    bundle: list[str] = []
    for line in lines:
        if line.startswith("m="):
            sections.append([])
        elif line.startswith("a=mid:") and sections:
            sections[-1].append(line.removeprefix("a=mid:").strip())
        elif line.startswith("a=group:BUNDLE") and not sections:
            bundle = line.split()[1:]
    mids = [mids[0] for mids in sections if len(mids) == 1]
    return len(mids) == len(sections) == len(set(mids)) and set(bundle) <= set(mids)
