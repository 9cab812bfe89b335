"""One live WebRTC call with a Realtime server.

:class:`Call` owns, for its lifetime: the peer connection, the ``oai-events`` data channel, the
outgoing audio track (fed from a :class:`~vivavoce.rtc.tracks.PcmSource`), the task draining
the remote audio into a sink, the transcript, and the subscribers to events and transcripts.

States: idle → connecting → live → closing → closed, or → error from connecting or live.
``start()`` returns once LIVE (data channel open and ``session.created`` received) or raises
a :class:`~vivavoce.errors.VivavoceError` naming the step that failed. ``close()`` is idempotent
and releases everything, whatever state the call is in. A call is given its session (what to
ask the model for: :func:`vivavoce.conversation.session_for` builds it from settings) and its
:class:`CallOptions` (how to reach the server), nothing else.

    session = ev.Session(model="gpt-realtime-2.1", instructions="Be brief.")
    async with Call(session, CallOptions(base_url, api_key)) as call:
        await call.send_text("hello")
        async for update in call.transcripts():
            print(update.role, update.text)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import urlsplit

import httpx

from .. import rtc
from ..errors import (
    CallError,
    ConfigError,
    ProtocolError,
    SessionExpired,
    StepTimeout,
    VivavoceError,
)
from ..rtc import ice
from ..rtc.liveness import Liveness
from ..rtc.tracks import DIGITAL_SILENCE, AudioSink, NullSink, PcmSource, PcmSourceTrack
from ..settings import Settings
from ..tasks import CloseOnce, TaskSet
from . import events as ev
from .events import Dialect
from .signaling import EphemeralKey, Signaling
from .transcript import Transcript, TranscriptUpdate

if TYPE_CHECKING:
    from aiortc import RTCDataChannel, RTCPeerConnection

log = logging.getLogger(__name__)

T = TypeVar("T")
#: The host that speaks only the GA shape now.
OPENAI_HOST = "api.openai.com"
_END: Any = object()


class CallState(StrEnum):
    IDLE = "idle"
    CONNECTING = "connecting"
    LIVE = "live"
    CLOSING = "closing"
    CLOSED = "closed"
    ERROR = "error"


StateListener = Callable[[CallState, VivavoceError | None], None]


class _Broadcast(Generic[T]):
    """Fan-out of items to any number of async iterators; ends them when closed."""

    def __init__(self) -> None:
        self._queues: list[asyncio.Queue[Any]] = []
        self.closed = False

    def publish(self, item: T) -> None:
        for q in self._queues:
            q.put_nowait(item)

    def close(self) -> None:
        self.closed = True
        self.publish(_END)

    async def subscribe(self, error: Callable[[], VivavoceError | None]) -> AsyncIterator[T]:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self._queues.append(queue)
        if self.closed:
            queue.put_nowait(_END)
        try:
            while (item := await queue.get()) is not _END:
                yield item
            if (exc := error()) is not None:
                raise exc
        finally:
            self._queues.remove(queue)


@dataclass(frozen=True)
class CallOptions:
    """How a call reaches its server, and nothing about the conversation (as aiortc's
    ``RTCPeerConnection`` takes only an ``RTCConfiguration``)."""

    base_url: str
    #: The key that mints the call's ephemeral key; never printed.
    api_key: str = field(repr=False)
    dialect: Dialect = "ga"
    #: Seconds each connect step may take.
    connect_timeout: float = 10.0
    #: STUN/TURN URLs (none: OpenAI needs none, and a public STUN server stalls offline).
    ice_servers: tuple[str, ...] = ()

    @classmethod
    def from_settings(
        cls, settings: Settings, base_url: str | None = None, api_key: str | None = None
    ) -> CallOptions:
        """Options for a call to ``base_url`` (default: the configured one), with ``api_key``
        (default: the one the settings give for that URL).

        Raises AuthenticationError when a remote server needs a key and none is set.
        """
        url = (base_url or settings.base_url).rstrip("/")
        if settings.dialect == "beta" and urlsplit(url).hostname == OPENAI_HOST:
            raise ConfigError(
                "dialect 'beta' is refused by api.openai.com (beta_api_shape_disabled since "
                "2026): set the vivavoce dialect setting to 'ga'",
                key="dialect",
            )
        return cls(
            base_url=url,
            api_key=api_key or settings.api_key_for(url),
            dialect=settings.dialect,
            connect_timeout=settings.connect_timeout,
            ice_servers=tuple(settings.ice_servers),
        )


class Call:
    """A live spoken conversation with a Realtime server over WebRTC."""

    def __init__(
        self,
        session: ev.Session,
        options: CallOptions,
        *,
        source: PcmSource | None = None,
        sink: AudioSink | None = None,
        http: httpx.AsyncClient | None = None,
        on_state: StateListener | None = None,
        on_step: Callable[[str], None] | None = None,
    ) -> None:
        self.session = session
        self.options = options
        self.source = source or PcmSource()
        self.sink: AudioSink = sink or NullSink()
        self.transcript = Transcript()
        self.state = CallState.IDLE
        self.error: VivavoceError | None = None
        self.call_id: str | None = None
        #: When the server will end this session (seconds since the epoch), if it said.
        self.expires_at: float | None = None
        #: Milliseconds from start() to the end of each step.
        self.timings: dict[str, float] = {}
        #: Seconds of the server's sound received so far: frames that are not all zeros (the
        #: filler a server sends between replies). The server has sent at least this much.
        self.audio_received = 0.0
        #: Server events that could not be parsed (logged, never fatal).
        self.protocol_errors: list[ProtocolError] = []
        self._own_http = http is None
        self._http = http or httpx.AsyncClient()
        self._on_state = on_state
        self._sent = ev.SentEvents()
        self._on_step = on_step
        self._events: _Broadcast[ev.ServerEvent] = _Broadcast()
        self._updates: _Broadcast[TranscriptUpdate] = _Broadcast()
        self._pc: RTCPeerConnection | None = None
        self._channel: RTCDataChannel | None = None
        self._track: Any = None
        self._signaling: Signaling | None = None
        self._tasks = TaskSet("vivavoce call")
        self._closing = CloseOnce()
        self._channel_open = asyncio.Event()
        self._session_created = asyncio.Event()
        self._failed = asyncio.Event()
        self._done = asyncio.Event()
        self._t0 = 0.0
        #: Notices a server gone silent in seconds (rtc/liveness.py says why this way).
        self.liveness: Liveness | None = None

    # ------------------------------------------------------------------ public API

    async def __aenter__(self) -> Call:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def events(self) -> AsyncIterator[ev.ServerEvent]:
        """Every server event from now until the call ends (raises its error if it failed)."""
        return self._events.subscribe(lambda: self.error)

    def transcripts(self) -> AsyncIterator[TranscriptUpdate]:
        """Transcript updates (each delta, then the final) until the call ends."""
        return self._updates.subscribe(lambda: self.error)

    async def start(self) -> None:
        """Connect; returns when LIVE. On failure everything is released and the error raised."""
        if self.state is not CallState.IDLE:
            raise CallError(f"this call was already started (state {self.state})")
        self._t0 = time.perf_counter()
        self._set_state(CallState.CONNECTING)
        try:
            await self._connect()
        except BaseException as exc:
            error = exc if isinstance(exc, VivavoceError) else None
            if isinstance(exc, Exception) and error is None:
                error = CallError(f"connecting failed: {type(exc).__name__}: {exc}")
            await self._shutdown(error)
            if error is not None and error is not exc:
                raise error from exc
            raise
        self._set_state(CallState.LIVE)
        self.liveness = Liveness(self._pc, lambda reason: self.fail(CallError(reason)))
        self._tasks.spawn(self.liveness.run(), "liveness")

    async def send(self, event: ev.KnownClientEvent) -> None:
        """Send one client event (refused over 64 KiB, or when not live).

        Every client event has an ``event_id``: a server ``error`` about it is traced to the
        request that caused it (:meth:`error_cause`).
        """
        message = ev.encode(event, dialect=self.options.dialect)
        channel = self._channel
        if channel is None or channel.readyState != "open" or self.state is not CallState.LIVE:
            raise CallError(f"cannot send {event.type}: the call is {self.state}")
        channel.send(message)
        self._sent.remember(event)

    def error_cause(self, error: ev.ErrorDetail) -> str | None:
        """The type of the recent client event a server error refers to (None: unknown)."""
        return self._sent.cause(error)

    async def send_text(
        self, text: str, *, respond: bool = True, item_id: str | None = None
    ) -> None:
        """Add a user message to the conversation and (by default) ask for a reply. ``item_id``:
        the item's id (the client may choose it; the server's ``conversation.item.added``
        carries it back)."""
        content = [ev.ContentPart(type="input_text", text=text)]
        await self.send(ev.ItemCreate(item=ev.Item(id=item_id, role="user", content=content)))
        if respond:
            await self.send(ev.ResponseCreate())

    async def wait_closed(self) -> None:
        """Wait until the call ends, by close() or by failure."""
        await self._done.wait()

    async def close(self) -> None:
        """Hang up and release everything. Safe to call any number of times, and a second
        caller returns only once everything is released."""
        await self._shutdown(None)

    # ------------------------------------------------------------------ connecting

    @contextlib.contextmanager
    def _step(self, name: str) -> Iterator[None]:
        try:
            yield
        finally:
            self.timings[name] = (time.perf_counter() - self._t0) * 1000

    async def _timed(self, step: str, awaitable: Any) -> Any:
        seconds = self.options.connect_timeout
        if self._on_step is not None:
            self._on_step(step)
        try:
            async with asyncio.timeout(seconds):
                with self._step(step):
                    return await awaitable
        except TimeoutError as exc:
            raise StepTimeout(step, seconds) from exc

    async def _connect(self) -> None:
        from aiortc import RTCPeerConnection, RTCSessionDescription

        rtc.prepare_aiortc()
        options = self.options
        self._signaling = Signaling(
            self._http,
            base_url=self.options.base_url,
            api_key=options.api_key,
            dialect=options.dialect,
            timeout=options.connect_timeout,
        )
        key: EphemeralKey = await self._timed(
            "minting an ephemeral key", self._signaling.mint_key(self.session)
        )
        self.expires_at = key.session_expires_at

        pc = self._pc = RTCPeerConnection(rtc.rtc_configuration(list(options.ice_servers)))
        # The track and the channel must exist before the offer: there is no renegotiation.
        self._track = PcmSourceTrack(self.source)
        pc.addTrack(self._track)
        channel = self._channel = pc.createDataChannel("oai-events")
        channel.on("open", self._channel_open.set)
        channel.on("message", self._on_channel_message)
        channel.on("close", lambda: self.fail(CallError("the server closed the data channel")))
        pc.on("track", self._on_track)
        pc.on("connectionstatechange", self._on_connection_state)

        with ice.host_addresses(ice.loopback_hosts_for(self.options.base_url)):
            await self._timed(
                "gathering ICE candidates", pc.setLocalDescription(await pc.createOffer())
            )
        offer = pc.localDescription.sdp
        if ice.candidate_count(offer) == 0:
            raise CallError("no network address to call from: this machine offers no ICE candidate")
        answer = await self._timed(
            "exchanging SDP", self._signaling.exchange_sdp(key, offer, self.session.model or "")
        )
        self.call_id = answer.call_id
        try:
            await self._timed(
                "applying the SDP answer",
                pc.setRemoteDescription(RTCSessionDescription(sdp=answer.sdp, type="answer")),
            )
        except (AssertionError, ValueError) as exc:  # aiortc's way of refusing an SDP
            detail = str(exc) or "unparsable"
            raise CallError(f"the server's SDP answer is not valid ({detail})") from exc
        await self._timed("opening the data channel", self._until(self._channel_open))
        await self._timed("waiting for session.created", self._until(self._session_created))
        # The key already carried the session; this applies settings the key request may not
        # (beta servers, self-hosted ones) and is answered with session.updated.
        update = ev.SessionUpdate(session=self.session)
        channel.send(ev.encode(update, dialect=options.dialect))
        self._sent.remember(update)
        self.timings["live"] = (time.perf_counter() - self._t0) * 1000

    async def _until(self, event: asyncio.Event) -> None:
        """Wait for ``event``, or raise the failure that ended the call meanwhile."""
        waiter = asyncio.ensure_future(event.wait())
        failed = asyncio.ensure_future(self._failed.wait())
        try:
            await asyncio.wait({waiter, failed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            failed.cancel()
        if not event.is_set():
            raise self.error or CallError("the call ended while connecting")

    # ------------------------------------------------------------------ callbacks

    def _on_channel_message(self, message: str | bytes) -> None:
        size = len(message.encode() if isinstance(message, str) else message)
        if size > ev.MAX_MESSAGE_BYTES:
            error = ProtocolError(
                f"ignored a {size}-byte server event (limit {ev.MAX_MESSAGE_BYTES})"
            )
            log.warning("%s", error)
            self.protocol_errors.append(error)
            return
        try:
            event = ev.parse_server_event(message)
        except ProtocolError as exc:
            log.warning("ignored a server event: %s", exc)
            self.protocol_errors.append(exc)
            return
        if isinstance(event, ev.UnknownEvent):
            log.debug("unknown server event %s", event.type)
        elif isinstance(event, ev.SessionCreated):
            self._session_created.set()
        elif isinstance(event, ev.ErrorEvent):
            cause = self._sent.cause(event.error) or "no request"
            log.info(
                "server error (%s, about %s): %s", event.error.code, cause, event.error.message
            )
            if event.error.code == "session_expired":
                self.fail(SessionExpired(f"the server ended the session: {event.error.message}"))
        for update in self.transcript.apply(event):
            self._updates.publish(update)
        self._events.publish(event)

    def _on_track(self, track: Any) -> None:
        if track.kind == "audio":
            self._tasks.spawn(self._drain(track), "drain remote audio")

    async def _drain(self, track: Any) -> None:
        from aiortc.mediastreams import MediaStreamError

        # Read continuously: an unread track's queue grows and so does the delay.
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if frame.opaque is not DIGITAL_SILENCE and frame.to_ndarray().any():
                self.audio_received += frame.samples / frame.sample_rate
            self.sink.write(frame)

    def _on_connection_state(self) -> None:
        pc = self._pc
        if pc is not None and pc.connectionState in ("failed", "closed"):
            self.fail(CallError(f"the WebRTC connection {pc.connectionState}"))

    def fail(self, error: VivavoceError) -> None:
        """The call cannot go on (the server left, or is known to be gone): record why and
        release everything in the background. Ignored once the call is ending anyway."""
        ending = (CallState.CLOSING, CallState.CLOSED, CallState.ERROR)
        if self._closing.started or self.state in ending:
            return
        log.warning("call failed: %s", error)
        self.error = error
        self._failed.set()
        if self.state is CallState.LIVE:
            # Its own task: cancel_all() spares the task it runs in.
            self._tasks.spawn(self._shutdown(error), "shutdown after failure")

    # ------------------------------------------------------------------ teardown

    async def _shutdown(self, error: VivavoceError | None) -> None:
        await self._closing.run(lambda: self._release(error))

    async def _release(self, error: VivavoceError | None) -> None:
        if error is not None:
            self.error = error
        self._failed.set()
        self._set_state(CallState.CLOSING)
        if self._signaling is not None and self.call_id:
            with contextlib.suppress(VivavoceError, TimeoutError):
                await asyncio.wait_for(self._signaling.hang_up(self.call_id), 2.0)
        if self._channel is not None:
            self._channel.remove_all_listeners("close")
            self._channel.close()
        if self._track is not None:
            self._track.stop()
        if self._pc is not None:
            self._pc.remove_all_listeners("connectionstatechange")
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._pc.close(), 5.0)
        await self._tasks.cancel_all()
        self.sink.close()
        if self._own_http:
            await self._http.aclose()
        for update in self.transcript.flush():  # no final is lost with the call
            self._updates.publish(update)
        self._updates.close()
        self._events.close()
        self._set_state(CallState.ERROR if self.error is not None else CallState.CLOSED)
        self._done.set()

    def _set_state(self, state: CallState) -> None:
        if state is self.state:
            return
        self.state = state
        if self._on_state is not None:
            try:
                self._on_state(state, self.error)
            except Exception:
                log.exception("a call state listener failed")
