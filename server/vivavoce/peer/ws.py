"""One WebSocket call of the local peer: the Realtime API's second transport.

The route (``GET /v1/realtime?model=…`` upgraded to a WebSocket, see :mod:`.app`) hands the
open socket to a :class:`WsCall`, which implements the session's
:class:`~vivavoce.peer.session.Transport` the way the real API does over WebSocket:

* every server event is one text message, sent in order by one writer task; the first is
  ``session.created``;
* the caller's audio comes in ``input_audio_buffer.append`` events (base64, per
  ``audio.input.format``), the assistant's goes out in ``response.output_audio.delta`` events as
  fast as it is synthesized (:attr:`audio_in_events`), not paced in real time, and there is no
  output audio buffer (no ``output_audio_buffer.*`` events): the client plays the audio and
  truncates the item (``conversation.item.truncate``) to what it played;
* a bad event gets an ``error`` event; nothing a client sends closes the socket (a message over
  :data:`MAX_MESSAGE_BYTES` is a WebSocket protocol violation: aiohttp closes with 1009);
* a client that stops reading while more than :data:`MAX_QUEUED_BYTES` wait is disconnected
  (1008) rather than held in memory.

Everything a call starts is a named task in its :class:`~vivavoce.tasks.TaskSet`, cancelled by
:meth:`WsCall.close` (idempotent; a second caller waits for the first).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from aiohttp import WSMsgType, web

from ..realtime.events import Dialect, Session
from ..rtc.tracks import Pcm
from ..tasks import CloseOnce, TaskSet
from .faults import Faults, call_fault_messages, rejection
from .options import PeerOptions
from .services import Services
from .session import RealtimeSession

log = logging.getLogger(__name__)

#: Largest client message (the API documents 15 MiB for ``input_audio_buffer.append``).
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
#: Server events waiting for a client that does not read, before it is disconnected.
MAX_QUEUED_BYTES = 64 * 1024 * 1024
#: Seconds the last events (an error before closing) may take to leave.
FLUSH_SECONDS = 2.0
#: The subprotocol the server picks when a browser client offers it.
SUBPROTOCOL = "realtime"
#: Prefix of the subprotocol carrying a browser client's key.
KEY_PROTOCOL_PREFIX = "openai-insecure-api-key."
#: Subprotocol (browser clients) and header value (others) asking for beta event names.
BETA_PROTOCOL = "openai-beta.realtime-v1"
BETA_HEADER = "realtime=v1"


def offered_protocols(request: web.BaseRequest) -> list[str]:
    """The subprotocols a WebSocket handshake offers, in order."""
    raw = ",".join(request.headers.getall("Sec-WebSocket-Protocol", []))
    return [p.strip() for p in raw.split(",") if p.strip()]


def authorization(request: web.BaseRequest) -> str | None:
    """The bearer credential: the ``Authorization`` header, else the key a browser client sends
    as the ``openai-insecure-api-key.<key>`` subprotocol (it cannot set headers)."""
    header = request.headers.get("Authorization")
    if header is not None:
        return header
    for protocol in offered_protocols(request):
        if protocol.startswith(KEY_PROTOCOL_PREFIX):
            return f"Bearer {protocol.removeprefix(KEY_PROTOCOL_PREFIX)}"
    return None


def wants_beta(request: web.BaseRequest) -> bool:
    """The client asked for the beta protocol (``OpenAI-Beta: realtime=v1``)."""
    header = request.headers.get("OpenAI-Beta", "")
    return BETA_HEADER in header.replace(" ", "").split(",") or (
        BETA_PROTOCOL in offered_protocols(request)
    )


class WsCall:
    """A call over one WebSocket, from the upgrade until either side closes it."""

    def __init__(
        self,
        call_id: str,
        socket: web.WebSocketResponse,
        services: Services,
        *,
        session: Session,
        dialect: Dialect = "ga",
        on_closed: Callable[[WsCall], None] | None = None,
        faults: Faults | None = None,
        options: PeerOptions | None = None,
    ) -> None:
        self.id = call_id
        self.options = options or PeerOptions()
        self.faults = faults or Faults()
        self.dialect: Dialect = dialect
        self._socket = socket
        self._on_closed = on_closed
        self._outgoing: asyncio.Queue[str] = asyncio.Queue()
        self._queued_bytes = 0
        self._tasks = TaskSet(f"peer websocket call {call_id}")
        self._closing = CloseOnce()
        self._close_soon: asyncio.Task[None] | None = None
        self._close_code: tuple[int, bytes] = (1000, b"")
        self.closed = asyncio.Event()
        self.session = RealtimeSession(
            self,
            services,
            session=session,
            dialect=dialect,
            on_failure=self.close_soon,
            name=call_id,
            options=self.options,
        )

    # ------------------------------------------------------------------ Transport

    @property
    def audio_in_events(self) -> bool:
        return True

    @property
    def has_audio(self) -> bool:
        return True  # audio goes out in events whenever a response has it

    def play(self, pcm: Pcm, rate: int) -> None:
        """Unused: with :attr:`audio_in_events` the responses send delta events themselves."""

    def clear_audio(self) -> None:
        """Nothing to drop: what was sent is the client's."""

    @property
    def queued_seconds(self) -> float:
        return 0.0

    async def played(self) -> None:
        """Audio sent is audio delivered: nothing to wait for."""

    def send_text(self, text: str) -> None:
        if self._closing.started or self._socket.closed:
            return
        self._queued_bytes += len(text)
        if self._queued_bytes > MAX_QUEUED_BYTES:
            log.warning("%s: the client is not reading its events; disconnecting", self.id)
            self.close_soon(code=1008, message=b"client not reading")
            return
        self._outgoing.put_nowait(text)

    # ------------------------------------------------------------------ running

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = self._tasks.spawn(coro, name)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.close_soon()

    async def run(self) -> None:
        """Announce the session, then read client events until the socket closes."""
        self._spawn(self._write(), "send")
        self.session.start()
        self._spawn(self._expire_later(self.options.max_session_seconds), "session lifetime")
        for name in self.faults.call_faults():
            self._spawn(self._fire_later(name, self.faults.delay), f"fault {name}")
        try:
            async for message in self._socket:
                if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    self._on_message(message.data)
                elif message.type == WSMsgType.ERROR:
                    log.info("%s: websocket error: %s", self.id, self._socket.exception())
        finally:
            await self.close()

    def _on_message(self, message: str | bytes) -> None:
        if self.faults.on("reject-events"):
            self.send_text(rejection(message))
            return
        try:
            self.session.handle_message(message)
        except Exception as exc:
            log.exception("%s: closing the call after an error", self.id, exc_info=exc)
            self.close_soon(code=1011, message=b"server error")

    async def _write(self) -> None:
        while True:
            text = await self._outgoing.get()
            try:
                await self._socket.send_str(text)
            except ConnectionError as exc:  # the client went away mid-send
                log.info("%s: could not send an event: %s", self.id, exc)
                self.close_soon()
                return
            finally:
                self._queued_bytes -= len(text)
                self._outgoing.task_done()

    async def _flush(self) -> None:
        """Wait (up to :data:`FLUSH_SECONDS`) until the events queued so far are written."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._outgoing.join(), FLUSH_SECONDS)

    async def _expire_later(self, seconds: float) -> None:
        """End the call at the session's maximum duration, with the ``session_expired`` error."""
        await asyncio.sleep(seconds)
        log.info("%s: session expired after %g s", self.id, seconds)
        self.session.expire()
        await self._flush()
        self.close_soon()

    async def _fire_later(self, name: str, delay: float) -> None:
        await asyncio.sleep(delay)
        self.inject(name)

    def inject(self, name: str) -> None:
        """Misbehave now (a call fault of :mod:`.faults`): send its messages, maybe hang up."""
        messages, close = call_fault_messages(name)
        log.warning("%s: injecting fault %s", self.id, name)
        for message in messages:
            self.send_text(message)
        if close:
            self._spawn(self._close_after_flush(), "fault close")

    async def _close_after_flush(self) -> None:
        await self._flush()
        self.close_soon()

    # ------------------------------------------------------------------ teardown

    def close_soon(self, code: int = 1000, message: bytes = b"") -> None:
        """Start closing (from a callback); :meth:`close` does the work."""
        if not self._closing.started and self._close_soon is None:
            self._close_code = (code, message)
            self._close_soon = self._tasks.spawn(self.close(), "close")

    async def close(self) -> None:
        """Hang up: stop the session and its tasks, close the socket. Idempotent; a second
        caller, even a concurrent one, returns once the first has finished."""
        await self._closing.run(self._close)

    async def _close(self) -> None:
        code, message = self._close_code
        try:
            await self.session.close()
            await self._tasks.cancel_all()
            try:
                await self._socket.close(code=code, message=message)
            except Exception as exc:  # the connection is already gone
                log.debug("%s: closing the websocket: %r", self.id, exc)
        finally:
            self.closed.set()
            if self._on_closed is not None:
                self._on_closed(self)
            log.info("%s: call closed", self.id)
